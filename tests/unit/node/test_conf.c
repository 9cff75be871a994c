/* SPDX-License-Identifier: MIT */
/*
 * Configuration: a good file loads with the documented defaults; every key's
 * bad values are rejected with the key's name and the file in the message;
 * unknown keys and sections, duplicates, missing files and inconsistent
 * combinations are errors; reload compatibility.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "node/conf.h"
#include "helpers/test.h"

static char *dir;
static char *file;

typedef struct kv {
	const char *section, *key, *value;
} kv_t;

/* The baseline: a valid replica with every key set. */
static kv_t base[] = {
	{ "node", "name", "kdc2.example.test" },
	{ "node", "role", "replica" },
	{ "node", "state_dir", "/var/lib/kdcsync" },
	{ "node", "listen", "127.0.0.1:7541" },
	{ "node", "primary", "kdc1.example.test" },
	{ "node", "kdc_profile", "/etc/krb5kdc/kdc.conf" },
	{ "node", "scan_interval", "30s" },
	{ "node", "replicate_lockout", "yes" },
	{ "node", "signing_key", "@/sign.key" },
	{ "node", "trusted_keys", "@/sign.pub" },
	{ "node", "log_level", "debug" },
	{ "node", "reconnect_min", "100ms" },
	{ "node", "reconnect_max", "10s" },
	{ "tls", "ca", "@/ca.crt" },
	{ "tls", "cert", "@/node.crt" },
	{ "tls", "key", "@/node.key" },
	{ "tls", "handshake_timeout", "5s" },
	{ "tls", "idle_timeout", "2m" },
	{ "tls", "keepalive_interval", "20s" },
	{ "tls", "max_connections", "32" },
	{ "tls", "write_queue_limit", "8M" },
};
#define N_BASE (sizeof(base) / sizeof(base[0]))

/* Write the config: base with key `skip` replaced by `repl` (NULL = drop),
 * plus `extra` appended verbatim. */
static void write_conf(const char *skip_key, const char *repl,
		       const char *extra)
{
	FILE *f = fopen(file, "w");
	const char *sections[] = { "node", "tls" };
	assert_non_null(f);
	for (int s = 0; s < 2; s++) {
		fprintf(f, "[%s]\n", sections[s]);
		for (size_t i = 0; i < N_BASE; i++) {
			const char *v = base[i].value;
			if (strcmp(base[i].section, sections[s]) != 0)
				continue;
			if (skip_key != NULL &&
			    strcmp(base[i].key, skip_key) == 0) {
				if (repl == NULL)
					continue;
				v = repl;
			}
			if (v[0] == '@')
				fprintf(f, "\t%s = %s%s\n", base[i].key, dir,
					v + 1);
			else
				fprintf(f, "\t%s = %s\n", base[i].key, v);
		}
	}
	fprintf(f, "[peers]\n\tkdc1.example.test = {\n\t\taddress = "
		   "kdc1.example.test:7541\n\t\tmode = native\n\t}\n");
	fprintf(f, "\tkdc3.example.test = {\n\t\tmode = native\n\t}\n");
	if (extra != NULL)
		fputs(extra, f);
	fclose(f);
}

static int load(node_conf_t **c, char *err, size_t len)
{
	*c = NULL;
	return node_conf_load(file, c, err, len);
}

static void test_good(void **st)
{
	(void)st;
	node_conf_t *c;
	char err[512];
	write_conf(NULL, NULL, NULL);
	int ret = load(&c, err, sizeof(err));
	if (ret != 0)
		fail_msg("%s", err);
	assert_string_equal(c->name, "kdc2.example.test");
	assert_int_equal(c->role, NODE_ROLE_REPLICA);
	assert_string_equal(c->listen.host, "127.0.0.1");
	assert_int_equal(c->listen.port, 7541);
	assert_int_equal(c->scan_interval_ms, 30000);
	assert_true(c->replicate_lockout);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_int_equal(c->idle_timeout_ms, 120000);
	assert_int_equal(c->write_queue_limit, 8 * 1024 * 1024);
	assert_int_equal(c->trusted_keys.n, 1);
	assert_int_equal(c->n_peers, 2);
	const node_peer_conf_t *p = node_conf_peer(c, "kdc1.example.test");
	assert_non_null(p);
	assert_string_equal(p->address.host, "kdc1.example.test");
	assert_int_equal(p->address.port, 7541);
	assert_null(node_conf_peer(c, "kdc3.example.test")->address.host);
	node_conf_free(c);
}

/* Optional keys left out take their documented defaults. */
static void test_defaults(void **st)
{
	(void)st;
	FILE *f = fopen(file, "w");
	node_conf_t *c;
	char err[512];
	fprintf(f,
		"[node]\n name = a.test\n role = primary\n state_dir = /tmp\n"
		" listen = 127.0.0.1:1\n[tls]\n ca = %s/ca.crt\n"
		" cert = %s/node.crt\n key = %s/node.key\n",
		dir, dir, dir);
	fclose(f);
	int ret = load(&c, err, sizeof(err));
	if (ret != 0)
		fail_msg("%s", err);
	assert_int_equal(c->scan_interval_ms, 600000);
	assert_false(c->replicate_lockout);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->handshake_timeout_ms, 10000);
	assert_int_equal(c->idle_timeout_ms, 60000);
	assert_int_equal(c->keepalive_ms, 15000);
	assert_int_equal(c->max_connections, 64);
	assert_int_equal(c->write_queue_limit, 4 * 1024 * 1024);
	assert_int_equal(c->reconnect_min_ms, 200);
	assert_int_equal(c->reconnect_max_ms, 30000);
	assert_string_equal(c->kdc_profile, "/etc/krb5kdc/kdc.conf");
	assert_int_equal(c->n_peers, 0);
	node_conf_free(c);
}

/* Bad values per key; each must fail naming the key and the file. */
static const struct {
	const char *key;
	const char *bad[8];
} bad_values[] = {
	{ "name", { "-bad", "a..b", "has space", "x/y", "a.", NULL } },
	{ "role", { "master", "Primary", "1", NULL } },
	{ "state_dir", { "relative/dir", "./x", NULL } },
	{ "listen",
	  { "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", ":7541", "host:port",
	    "[::1]7541", "a b:1", NULL } },
	{ "primary", { "bad name", "-x", NULL } },
	{ "kdc_profile", { "kdc.conf", NULL } },
	{ "scan_interval", { "0", "500ms", "2d", "abc", "10x", "-5s", NULL } },
	{ "replicate_lockout", { "maybe", "2", NULL } },
	{ "signing_key", { "@/missing.key", "relative.key", "@", NULL } },
	{ "trusted_keys", { "@/missing.pub", "x", NULL } },
	{ "log_level", { "verbose", "7", NULL } },
	{ "reconnect_min", { "1ms", "2h", "fast", NULL } },
	{ "reconnect_max", { "10ms", "2h", "x", NULL } },
	{ "ca", { "@/missing.crt", "ca.crt", "@", NULL } },
	{ "cert", { "@/missing.crt", "node.crt", NULL } },
	{ "key", { "@/missing.key", "node.key", NULL } },
	{ "handshake_timeout", { "10ms", "10m", "soon", NULL } },
	{ "idle_timeout", { "500ms", "2h", "x", NULL } },
	{ "keepalive_interval", { "10ms", "11m", "x", NULL } },
	{ "max_connections", { "0", "10001", "-1", "1k", "lots", NULL } },
	{ "write_queue_limit", { "1K", "2G", "4T", "many", "-1", NULL } },
};

static void test_bad_values(void **st)
{
	(void)st;
	int checked = 0;
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]);
	     i++) {
		for (int j = 0; bad_values[i].bad[j] != NULL; j++) {
			node_conf_t *c;
			char err[512];
			write_conf(bad_values[i].key, bad_values[i].bad[j],
				   NULL);
			int ret = load(&c, err, sizeof(err));
			if (ret == 0)
				fail_msg("%s = '%s' was accepted",
					 bad_values[i].key,
					 bad_values[i].bad[j]);
			assert_null(c);
			assert_true(ret == KS_ECONFVAL || ret == KS_ECONFIG);
			if (strstr(err, bad_values[i].key) == NULL ||
			    strstr(err, file) == NULL)
				fail_msg("message '%s' lacks key '%s' or file",
					 err, bad_values[i].key);
			checked++;
		}
	}
	/* every key of the table has bad values listed */
	assert_int_equal(sizeof(bad_values) / sizeof(bad_values[0]), N_BASE);
	printf("%d bad values rejected\n", checked);
}

static void expect_error(const char *skip, const char *repl, const char *extra,
			 int code, const char *part)
{
	node_conf_t *c;
	char err[512];
	write_conf(skip, repl, extra);
	assert_ks_err(load(&c, err, sizeof(err)), code);
	assert_null(c);
	if (strstr(err, part) == NULL || strstr(err, file) == NULL)
		fail_msg("message '%s' lacks '%s' or the file", err, part);
}

static void test_structure_errors(void **st)
{
	(void)st;
	expect_error(NULL, NULL, "[node]\n\tcolour = blue\n", KS_ECONFKEY,
		     "colour");
	expect_error(NULL, NULL, "[tls]\n\tciphers = ALL\n", KS_ECONFKEY,
		     "ciphers");
	expect_error(NULL, NULL, "[server]\n\tx = 1\n", KS_ECONFKEY,
		     "[server]");
	expect_error(NULL, NULL, "[node]\n\tname = other.test\n", KS_ECONFVAL,
		     "name");
	expect_error(NULL, NULL, "[node]\n\tlog_level = { x = 1 }\n",
		     KS_ECONFVAL, "log_level");
	expect_error(NULL, NULL, "[peers]\n\tbad = 1\n", KS_ECONFVAL, "bad");
	expect_error(NULL, NULL, "[peers]\n\tp.test = {\n\t\tport = 1\n\t}\n",
		     KS_ECONFKEY, "port");
	expect_error(NULL, NULL,
		     "[peers]\n\tp.test = {\n\t\taddress = nope\n\t}\n",
		     KS_ECONFVAL, "address");
	expect_error(NULL, NULL,
		     "[peers]\n\tp.test = {\n\t\tmode = iprop\n\t}\n",
		     KS_ECONFVAL, "mode");
	expect_error(NULL, NULL,
		     "[peers]\n\tp.test = {\n\t\tmode = kprop\n\t}\n",
		     KS_ECONFIG, "address");
	expect_error(
		NULL, NULL,
		"[peers]\n\tkdc2.example.test = {\n\t\tmode = native\n\t}\n",
		KS_ECONFIG, "own peer");
	expect_error("name", NULL, NULL, KS_ECONFIG, "name");
	expect_error("role", NULL, NULL, KS_ECONFIG, "role");
	expect_error("ca", NULL, NULL, KS_ECONFIG, "ca");
	expect_error("primary", NULL, NULL, KS_ECONFIG, "primary");
	expect_error("primary", "kdc9.example.test", NULL, KS_ECONFIG,
		     "primary");
	expect_error("primary", "kdc3.example.test", NULL, KS_ECONFIG,
		     "primary"); /* no address */
	expect_error("role", "primary", NULL, KS_ECONFIG, "primary");
	expect_error("keepalive_interval", "3m", NULL, KS_ECONFIG,
		     "keepalive_interval");
	expect_error("reconnect_min", "20s", NULL, KS_ECONFIG, "reconnect_min");
	/* syntax error */
	FILE *f = fopen(file, "w");
	fputs("[node\nname = x\n", f);
	fclose(f);
	node_conf_t *c;
	char err[512];
	assert_ks_err(load(&c, err, sizeof(err)), KS_ECONFIG);
	assert_non_null(strstr(err, file));
	/* missing file */
	char *missing = NULL;
	assert_true(asprintf(&missing, "%s/nope.conf", dir) > 0);
	assert_ks_err(node_conf_load(missing, &c, err, sizeof(err)), KS_ENOENT);
	assert_non_null(strstr(err, missing));
	free(missing);
}

static void test_reloadable(void **st)
{
	(void)st;
	node_conf_t *a, *b;
	char err[512];
	write_conf(NULL, NULL, NULL);
	assert_ks_ok(load(&a, err, sizeof(err)));
	write_conf("idle_timeout", "5m", NULL);
	assert_ks_ok(load(&b, err, sizeof(err)));
	assert_ks_ok(node_conf_reloadable(a, b, err, sizeof(err)));
	node_conf_free(b);
	write_conf("listen", "127.0.0.1:7542", NULL);
	assert_ks_ok(load(&b, err, sizeof(err)));
	assert_ks_err(node_conf_reloadable(a, b, err, sizeof(err)), KS_ECONFIG);
	assert_non_null(strstr(err, "listen"));
	node_conf_free(b);
	node_conf_free(a);
}

/* state_dir alone can be read from a file that is otherwise broken. */
static void test_state_dir_only(void **st)
{
	(void)st;
	char err[512], *sd = NULL;
	node_conf_t *c;
	write_conf(NULL, NULL, "[node]\n\tcolour = blue\n");
	assert_ks_err(load(&c, err, sizeof(err)), KS_ECONFKEY);
	assert_ks_ok(node_conf_state_dir(file, &sd, err, sizeof(err)));
	assert_string_equal(sd, "/var/lib/kdcsync");
	free(sd);
	sd = NULL;
	write_conf("state_dir", NULL, NULL);
	assert_ks_err(node_conf_state_dir(file, &sd, err, sizeof(err)),
		      KS_ECONFIG);
	assert_non_null(strstr(err, "state_dir"));
	assert_null(sd);
	write_conf("state_dir", "relative", NULL);
	assert_ks_err(node_conf_state_dir(file, &sd, err, sizeof(err)),
		      KS_ECONFIG);
}

static void touch(const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("x\n", f);
	fclose(f);
	free(p);
}

static int setup(void **st)
{
	(void)st;
	dir = test_mkdtemp("ks-conf");
	if (asprintf(&file, "%s/kdcsync.conf", dir) < 0)
		return -1;
	touch("ca.crt");
	touch("node.crt");
	touch("node.key");
	touch("sign.key");
	touch("sign.pub");
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	free(file);
	test_rmtree_free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_reloadable),
		cmocka_unit_test(test_state_dir_only),
	};
	return test_run_group(tests, setup, teardown);
}
