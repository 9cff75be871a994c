/* SPDX-License-Identifier: MIT */
/*
 * The configuration's keys (see conf_int.h): one declarative table of
 * every key of [node], [tls], [kprop] and [metrics] -- its type, default,
 * range and where it lands in node_conf_t -- the [peers] subsection's
 * keys, and their description for the documentation (node_conf_key_*,
 * which test_conf_doc checks the man page against).  The names of roles
 * and peer modes are here too.
 */
#include <stdio.h>
#include <string.h>

#include "node/conf_int.h"

static const char *const roles[] = { "primary", "replica", NULL };
const char *const node_conf__modes[] = { "native", "kprop", NULL };

#define F(field) offsetof(node_conf_t, field)
#define MS(x)	 ((uint64_t)(x))
#define SEC(x)	 ((uint64_t)(x)*1000u)

/* The declarative table (see conf_int.h). */
const conf_key_t node_conf__keys[] = {
	{ "node", "name", K_NAME, NULL, 0, 0, true, F(name), NULL },
	{ "node", "role", K_ENUM, NULL, 0, 0, true, F(role), roles },
	{ "node", "state_dir", K_PATH, NULL, 0, 0, true, F(state_dir), NULL },
	{ "node", "listen", K_HOSTPORT, NULL, 0, 0, false, F(listen), NULL },
	{ "node", "primary", K_NAME, NULL, 0, 0, false, F(primary), NULL },
	{ "node", "kdc_profile", K_PATH, "/etc/krb5kdc/kdc.conf", 0, 0, false,
	  F(kdc_profile), NULL },
	{ "node", "scan_interval", K_DURATION, "10min", SEC(1), SEC(86400),
	  false, F(scan_interval_ms), NULL },
	{ "node", "drift_check_interval", K_DURATION, "1h", 0, SEC(7 * 86400),
	  false, F(drift_check_interval_ms), NULL },
	{ "node", "verify_memory", K_SIZE, "8M", 64u * 1024,
	  1024u * 1024 * 1024, false, F(verify_memory), NULL },
	{ "node", "replicate_lockout", K_BOOL, "false", 0, 0, false,
	  F(replicate_lockout), NULL },
	{ "node", "synchronous", K_UINT, "0", 0, 64, false, F(synchronous),
	  NULL },
	{ "node", "sync_timeout", K_DURATION, "2s", MS(100), SEC(600), false,
	  F(sync_timeout_ms), NULL },
	{ "node", "log_retain", K_UINT, "1000000", 1, 1000000000, false,
	  F(log_retain), NULL },
	{ "node", "signing_key", K_FILE, NULL, 0, 0, false, F(signing_key),
	  NULL },
	{ "node", "trusted_keys", K_FILES, NULL, 0, 0, false, F(trusted_keys),
	  NULL },
	{ "node", "log_level", K_LOGLEVEL, "info", 0, 0, false, F(log_level),
	  NULL },
	{ "node", "reconnect_min", K_DURATION, "200ms", MS(10), SEC(60), false,
	  F(reconnect_min_ms), NULL },
	{ "node", "reconnect_max", K_DURATION, "30s", MS(100), SEC(3600), false,
	  F(reconnect_max_ms), NULL },
	{ "tls", "ca", K_FILE, NULL, 0, 0, true, F(tls_ca), NULL },
	{ "tls", "cert", K_FILE, NULL, 0, 0, true, F(tls_cert), NULL },
	{ "tls", "key", K_FILE, NULL, 0, 0, true, F(tls_key), NULL },
	{ "tls", "handshake_timeout", K_DURATION, "10s", MS(100), SEC(300),
	  false, F(handshake_timeout_ms), NULL },
	{ "tls", "idle_timeout", K_DURATION, "60s", SEC(1), SEC(3600), false,
	  F(idle_timeout_ms), NULL },
	{ "tls", "keepalive_interval", K_DURATION, "15s", MS(100), SEC(600),
	  false, F(keepalive_ms), NULL },
	{ "tls", "max_connections", K_UINT, "64", 1, 10000, false,
	  F(max_connections), NULL },
	{ "tls", "max_handshakes", K_UINT, "32", 1, 10000, false,
	  F(max_handshakes), NULL },
	{ "tls", "max_per_address", K_UINT, "8", 1, 10000, false,
	  F(max_per_address), NULL },
	{ "tls", "write_queue_limit", K_SIZE, "4M", 64u * 1024,
	  1024u * 1024 * 1024, false, F(write_queue_limit), NULL },
	/* kprop compatibility (node/kprop/): sender and listener */
	{ "kprop", "keytab", K_STRING, NULL, 0, 0, false, F(kprop_keytab),
	  NULL },
	{ "kprop", "principal", K_STRING, NULL, 0, 0, false, F(kprop_principal),
	  NULL },
	{ "kprop", "realm", K_STRING, NULL, 0, 0, false, F(kprop_realm), NULL },
	{ "kprop", "listen", K_HOSTPORT, NULL, 0, 0, false, F(kprop_listen),
	  NULL },
	{ "kprop", "acl_file", K_PATH, "/etc/krb5kdc/kpropd.acl", 0, 0, false,
	  F(kprop_acl_file), NULL },
	{ "kprop", "timeout", K_DURATION, "300s", SEC(1), SEC(86400), false,
	  F(kprop_timeout_ms), NULL },
	{ "kprop", "push_interval", K_DURATION, "1h", SEC(1), SEC(86400 * 7),
	  false, F(kprop_push_interval_ms), NULL },
	/* Prometheus endpoint (node/metrics.h) */
	{ "metrics", "listen", K_HOSTPORT, NULL, 0, 0, false, F(metrics_listen),
	  NULL },
};

const size_t node_conf__n_keys =
	sizeof(node_conf__keys) / sizeof(node_conf__keys[0]);
_Static_assert(sizeof(node_conf__keys) / sizeof(node_conf__keys[0]) <=
		       NODE_CONF__KEYS_MAX,
	       "NODE_CONF__KEYS_MAX: the loader's seen[] is too small");

const char *const node_conf__peer_keys[] = { "address", "mode", NULL };

const char *node_role_name(int role)
{
	return role == NODE_ROLE_REPLICA ? "replica" : "primary";
}

const char *node_peer_mode_name(int mode)
{
	return mode == NODE_PEER_KPROP ? node_conf__modes[1]
				       : node_conf__modes[0];
}

/* 90000ms -> "90s", 86400000ms -> "1d": the largest exact unit. */
static void fmt_duration(uint64_t ms, char *buf, size_t len)
{
	static const struct {
		uint64_t mult;
		const char *unit;
	} u[] = { { 86400000, "d" },
		  { 3600000, "h" },
		  { 60000, "m" },
		  { 1000, "s" },
		  { 1, "ms" } };
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (ms % u[i].mult == 0) {
			snprintf(buf, len, "%llu%s",
				 (unsigned long long)(ms / u[i].mult),
				 u[i].unit);
			return;
		}
	}
}

static void fmt_size(uint64_t b, char *buf, size_t len)
{
	static const struct {
		uint64_t mult;
		const char *unit;
	} u[] = { { 1024u * 1024 * 1024, "G" },
		  { 1024u * 1024, "M" },
		  { 1024, "K" },
		  { 1, "" } };
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (b % u[i].mult == 0) {
			snprintf(buf, len, "%llu%s",
				 (unsigned long long)(b / u[i].mult),
				 u[i].unit);
			return;
		}
	}
}

size_t node_conf_key_count(void)
{
	size_t n = 0;

	while (node_conf__peer_keys[n] != NULL)
		n++;
	return node_conf__n_keys + n;
}

void node_conf_key_describe(size_t i, node_conf_key_info_t *out)
{
	static const char *const value[] = {
		[K_NAME] = "NAME",	    [K_STRING] = "STRING",
		[K_PATH] = "PATH",	    [K_FILE] = "FILE",
		[K_FILES] = "FILE",	    [K_ENUM] = "ENUM",
		[K_BOOL] = "BOOLEAN",	    [K_DURATION] = "DURATION",
		[K_SIZE] = "SIZE",	    [K_UINT] = "NUMBER",
		[K_HOSTPORT] = "HOST:PORT", [K_LOGLEVEL] = "LEVEL",
	};
	const conf_key_t *k;
	char lo[32], hi[32];

	*out = (node_conf_key_info_t){ 0 };
	if (i >= node_conf__n_keys) {
		out->section = "peers";
		out->name = node_conf__peer_keys[i - node_conf__n_keys];
		out->value = strcmp(out->name, "address") == 0 ? "HOST:PORT"
							       : "ENUM";
		out->def = strcmp(out->name, "mode") == 0 ? node_conf__modes[0]
							  : NULL;
		return;
	}
	k = &node_conf__keys[i];
	out->section = k->section;
	out->name = k->name;
	out->value = value[k->type];
	out->def = k->def;
	out->required = k->required;
	out->repeat = k->type == K_FILES;
	if (k->type == K_DURATION) {
		fmt_duration(k->min, lo, sizeof(lo));
		fmt_duration(k->max, hi, sizeof(hi));
	} else if (k->type == K_SIZE) {
		fmt_size(k->min, lo, sizeof(lo));
		fmt_size(k->max, hi, sizeof(hi));
	} else if (k->type == K_UINT) {
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
	} else {
		return;
	}
	snprintf(out->range, sizeof(out->range), "%s..%s", lo, hi);
}
