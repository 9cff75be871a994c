/* SPDX-License-Identifier: MIT */
/*
 * Configuration loading and validation (see conf.h).  One table, `keys`
 * below, declares every key of [node] and [tls]: its type, default, range
 * and where it lands in node_conf_t; [peers] subsections have their own
 * small table.  The profile library is called only here, and its com_err
 * codes are translated here.
 */
#include "node/conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <com_err.h>
#include <profile.h>

#include "common/errors.h"
#include "common/log.h"

enum ktype {
	K_NAME,	    /* DNS-style node name: letters, digits, '.', '-' */
	K_STRING,   /* any non-empty text */
	K_PATH,	    /* absolute path, need not exist */
	K_FILE,	    /* absolute path of a readable file */
	K_FILES,    /* several K_FILE values (the key may repeat) */
	K_ENUM,	    /* one of `choices`, stored as its index */
	K_BOOL,	    /* yes/no/true/false/on/off/1/0 */
	K_DURATION, /* 500ms, 30s, 5m, 2h, 1d; bare number = seconds; in ms */
	K_SIZE,	    /* bytes, or with K/M/G (powers of 1024) */
	K_UINT,	    /* decimal integer */
	K_HOSTPORT, /* host:port or [v6]:port */
	K_LOGLEVEL, /* err, warning, notice, info, debug */
};

typedef struct key {
	const char *section;
	const char *name;
	enum ktype type;
	const char *def; /* default as text, NULL = none (unset or required) */
	uint64_t min, max; /* numeric range (durations in ms, sizes in bytes) */
	bool required;
	size_t off; /* field in node_conf_t */
	const char *const *choices;
} key_t_;

static const char *const roles[] = { "primary", "replica", NULL };
static const char *const modes[] = { "native", "kprop", NULL };

#define F(field) offsetof(node_conf_t, field)
#define MS(x)	 ((uint64_t)(x))
#define SEC(x)	 ((uint64_t)(x)*1000u)

/* The declarative table of [node] and [tls] keys. */
static const key_t_ keys[] = {
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

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* Keys of a [peers] NAME = { ... } subsection. */
static const char *const peer_keys[] = { "address", "mode", NULL };

typedef struct loader {
	const char *path;
	char *err;
	size_t errlen;
	profile_t prof;
	node_conf_t *conf;
	bool seen[N_KEYS];
} loader_t;

static int say(loader_t *l, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int say(loader_t *l, int code, const char *fmt, ...)
{
	va_list ap;
	char msg[400];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->err != NULL && l->errlen > 0)
		snprintf(l->err, l->errlen, "%s: %s", l->path, msg);
	return code;
}

static int parse_u64(const char *s, uint64_t *out, const char **rest)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	*out = v;
	*rest = end;
	return 0;
}

static int parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = { { "ms", 1 },     { "s", 1000 },	 { "", 1000 },
		      { "m", 60000 },  { "h", 3600000 }, { "d", 86400000 },
		      { "sec", 1000 }, { "min", 60000 } };
	uint64_t v;
	const char *rest;

	if (parse_u64(s, &v, &rest) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(rest, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return -1;
			*ms = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

static int parse_size(const char *s, uint64_t *bytes)
{
	uint64_t v, mult;
	const char *rest;

	if (parse_u64(s, &v, &rest) != 0)
		return -1;
	if (*rest == '\0')
		mult = 1;
	else if (strcasecmp(rest, "K") == 0 || strcasecmp(rest, "KiB") == 0)
		mult = 1024;
	else if (strcasecmp(rest, "M") == 0 || strcasecmp(rest, "MiB") == 0)
		mult = 1024 * 1024;
	else if (strcasecmp(rest, "G") == 0 || strcasecmp(rest, "GiB") == 0)
		mult = 1024 * 1024 * 1024;
	else
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	*bytes = v * mult;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "y", "t" };
	static const char *const no[] = { "no", "false", "off", "0", "n", "f" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!isalnum(ch) && ch != '-' && ch != '.' && ch != '_')
			return false;
		if (ch == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

int node_hostport_parse(const char *s, node_hostport_t *out)
{
	const char *colon, *hs = s;
	size_t hl;
	uint64_t port;
	const char *rest;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return KS_ECONFVAL;
		hs = s + 1;
		hl = (size_t)(rb - hs);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			return KS_ECONFVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl > 253)
		return KS_ECONFVAL;
	if (parse_u64(colon + 1, &port, &rest) != 0 || *rest != '\0' ||
	    port < 1 || port > 65535)
		return KS_ECONFVAL;
	for (size_t i = 0; i < hl; i++) {
		unsigned char ch = (unsigned char)hs[i];
		if (!isalnum(ch) && ch != '-' && ch != '.' && ch != ':' &&
		    ch != '_')
			return KS_ECONFVAL;
	}
	out->host = strndup(hs, hl);
	if (out->host == NULL)
		return KS_ENOMEM;
	out->port = (uint16_t)port;
	return KS_EOK;
}

static const char *range_text(const key_t_ *k, char *buf, size_t len)
{
	if (k->type == K_DURATION)
		snprintf(buf, len, "%llums..%llums", (unsigned long long)k->min,
			 (unsigned long long)k->max);
	else
		snprintf(buf, len, "%llu..%llu", (unsigned long long)k->min,
			 (unsigned long long)k->max);
	return buf;
}

static int check_file(loader_t *l, const char *where, const char *v)
{
	struct stat st;

	if (v[0] != '/')
		return say(l, KS_ECONFVAL, "%s: '%s' is not an absolute path",
			   where, v);
	if (stat(v, &st) != 0)
		return say(l, KS_ECONFVAL, "%s: cannot use file '%s' (%s)",
			   where, v, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return say(l, KS_ECONFVAL, "%s: '%s' is not a regular file",
			   where, v);
	if (access(v, R_OK) != 0)
		return say(l, KS_ECONFVAL, "%s: cannot read file '%s' (%s)",
			   where, v, strerror(errno));
	return KS_EOK;
}

/* Parse one value of key k into the configuration. */
static int set_value(loader_t *l, const key_t_ *k, const char *v)
{
	char where[80], rb[64];
	void *field = (char *)l->conf + k->off;
	uint64_t n;
	int ret;

	snprintf(where, sizeof(where), "[%s] %s", k->section, k->name);
	if (v == NULL || v[0] == '\0')
		return say(l, KS_ECONFVAL, "%s: empty value", where);
	switch (k->type) {
	case K_NAME:
		if (!valid_name(v))
			return say(
				l, KS_ECONFVAL,
				"%s: '%s' is not a valid name (letters, digits, '.', '-', '_')",
				where, v);
		/* fall through */
	case K_STRING:
	case K_PATH:
	case K_FILE:
		if (k->type == K_PATH && v[0] != '/')
			return say(l, KS_ECONFVAL,
				   "%s: '%s' is not an absolute path", where,
				   v);
		if (k->type == K_FILE && (ret = check_file(l, where, v)) != 0)
			return ret;
		free(*(char **)field);
		*(char **)field = strdup(v);
		return *(char **)field ? KS_EOK : KS_ENOMEM;
	case K_FILES: {
		node_strlist_t *sl = field;
		char **nv;
		if ((ret = check_file(l, where, v)) != 0)
			return ret;
		nv = realloc(sl->v, (sl->n + 1) * sizeof(char *));
		if (nv == NULL)
			return KS_ENOMEM;
		sl->v = nv;
		if ((sl->v[sl->n] = strdup(v)) == NULL)
			return KS_ENOMEM;
		sl->n++;
		return KS_EOK;
	}
	case K_ENUM:
		for (int i = 0; k->choices[i] != NULL; i++) {
			if (strcmp(v, k->choices[i]) == 0) {
				*(int *)field = i;
				return KS_EOK;
			}
		}
		return say(l, KS_ECONFVAL, "%s: '%s' is not one of %s%s%s",
			   where, v, k->choices[0], k->choices[1] ? "|" : "",
			   k->choices[1] ? k->choices[1] : "");
	case K_BOOL:
		if (parse_bool(v, (bool *)field) != 0)
			return say(l, KS_ECONFVAL,
				   "%s: '%s' is not a boolean (yes|no)", where,
				   v);
		return KS_EOK;
	case K_LOGLEVEL: {
		int lv = ks_log_level_parse(v);
		if (lv < 0)
			return say(
				l, KS_ECONFVAL,
				"%s: '%s' is not a level (err|warning|notice|info|debug)",
				where, v);
		*(int *)field = lv;
		return KS_EOK;
	}
	case K_DURATION:
		if (parse_duration(v, &n) != 0)
			return say(
				l, KS_ECONFVAL,
				"%s: '%s' is not a duration (e.g. 500ms, 30s, 5m, 1h)",
				where, v);
		goto range;
	case K_SIZE:
		if (parse_size(v, &n) != 0)
			return say(
				l, KS_ECONFVAL,
				"%s: '%s' is not a size (e.g. 65536, 64K, 4M)",
				where, v);
		goto range;
	case K_UINT: {
		const char *rest;
		if (parse_u64(v, &n, &rest) != 0 || *rest != '\0')
			return say(l, KS_ECONFVAL,
				   "%s: '%s' is not a whole number", where, v);
		goto range;
	}
	case K_HOSTPORT: {
		node_hostport_t *hp = field;
		free(hp->host);
		hp->host = NULL;
		ret = node_hostport_parse(v, hp);
		if (ret == KS_ECONFVAL)
			return say(l, ret,
				   "%s: '%s' is not HOST:PORT (port 1..65535)",
				   where, v);
		return ret;
	}
	}
	return KS_EINTERNAL;
range:
	if (n < k->min || n > k->max)
		return say(l, KS_ECONFVAL, "%s: '%s' is out of range %s", where,
			   v, range_text(k, rb, sizeof(rb)));
	*(uint64_t *)field = n;
	return KS_EOK;
}

static const key_t_ *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Translate a profile library code (com_err space). */
static int prof_err(loader_t *l, long code, const char *what)
{
	if (code == ENOMEM)
		return KS_ENOMEM;
	return say(l, KS_ECONFIG, "%s (%s)", what, error_message(code));
}

/* Walk one of [node] / [tls]: every relation must be in the table. */
static int load_section(loader_t *l, const char *section)
{
	const char *names[] = { section, NULL };
	void *it = NULL;
	char *name = NULL, *value = NULL;
	long code;
	int ret = KS_EOK;

	code = profile_iterator_create(l->prof, names,
				       PROFILE_ITER_LIST_SECTION, &it);
	if (code != 0)
		return prof_err(l, code, "cannot read the file");
	while ((code = profile_iterator(&it, &name, &value)) == 0 &&
	       name != NULL) {
		const key_t_ *k = find_key(section, name);
		if (k == NULL) {
			ret = say(l, KS_ECONFKEY, "unknown key '%s' in [%s]",
				  name, section);
			goto out;
		}
		if (value == NULL) {
			ret = say(
				l, KS_ECONFVAL,
				"[%s] %s: expected a value, found a { } block",
				section, name);
			goto out;
		}
		size_t idx = (size_t)(k - keys);
		if (l->seen[idx] && k->type != K_FILES) {
			ret = say(l, KS_ECONFVAL,
				  "[%s] %s: given more than once", section,
				  name);
			goto out;
		}
		l->seen[idx] = true;
		ret = set_value(l, k, value);
		if (ret != KS_EOK)
			goto out;
		profile_release_string(name);
		profile_release_string(value);
		name = value = NULL;
	}
	if (code != 0)
		ret = prof_err(l, code, "cannot read the file");
out:
	profile_release_string(name);
	profile_release_string(value);
	profile_iterator_free(&it);
	return ret;
}

static int load_peer(loader_t *l, const char *pname)
{
	const char *names[] = { "peers", pname, NULL };
	void *it = NULL;
	char *name = NULL, *value = NULL;
	node_peer_conf_t *p;
	bool seen[2] = { false, false };
	long code;
	int ret = KS_EOK;

	if (!valid_name(pname))
		return say(
			l, KS_ECONFVAL,
			"[peers] '%s': not a valid peer name (the name in its certificate)",
			pname);
	for (size_t i = 0; i < l->conf->n_peers; i++)
		if (strcmp(l->conf->peers[i].name, pname) == 0)
			return say(l, KS_ECONFVAL,
				   "[peers] %s: given more than once", pname);
	p = realloc(l->conf->peers,
		    (l->conf->n_peers + 1) * sizeof(node_peer_conf_t));
	if (p == NULL)
		return KS_ENOMEM;
	l->conf->peers = p;
	p = &p[l->conf->n_peers];
	*p = (node_peer_conf_t){ .mode = NODE_PEER_NATIVE };
	if ((p->name = strdup(pname)) == NULL)
		return KS_ENOMEM;
	l->conf->n_peers++;
	code = profile_iterator_create(l->prof, names,
				       PROFILE_ITER_LIST_SECTION, &it);
	if (code != 0)
		return prof_err(l, code, "cannot read the file");
	while ((code = profile_iterator(&it, &name, &value)) == 0 &&
	       name != NULL) {
		int which = -1;
		for (int i = 0; peer_keys[i] != NULL; i++)
			if (strcmp(name, peer_keys[i]) == 0)
				which = i;
		if (which < 0) {
			ret = say(l, KS_ECONFKEY,
				  "unknown key '%s' in [peers] %s", name,
				  pname);
			goto out;
		}
		if (value == NULL || value[0] == '\0' || seen[which]) {
			ret = say(l, KS_ECONFVAL, "[peers] %s.%s: %s", pname,
				  name,
				  seen[which] ? "given more than once"
					      : "expected a value");
			goto out;
		}
		seen[which] = true;
		if (which == 0) {
			ret = node_hostport_parse(value, &p->address);
			if (ret == KS_ECONFVAL)
				ret = say(
					l, ret,
					"[peers] %s.address: '%s' is not HOST:PORT (port 1..65535)",
					pname, value);
		} else {
			int m = -1;
			for (int i = 0; modes[i] != NULL; i++)
				if (strcmp(value, modes[i]) == 0)
					m = i;
			if (m >= 0)
				p->mode = m;
			else
				ret = say(
					l, KS_ECONFVAL,
					"[peers] %s.mode: '%s' is not one of native|kprop",
					pname, value);
		}
		if (ret != KS_EOK)
			goto out;
		profile_release_string(name);
		profile_release_string(value);
		name = value = NULL;
	}
	if (code != 0)
		ret = prof_err(l, code, "cannot read the file");
	else if (p->mode == NODE_PEER_KPROP && p->address.host == NULL)
		ret = say(l, KS_ECONFIG,
			  "[peers] %s.address: required for mode = kprop",
			  pname);
out:
	profile_release_string(name);
	profile_release_string(value);
	profile_iterator_free(&it);
	return ret;
}

static int load_peers(loader_t *l)
{
	const char *names[] = { "peers", NULL };
	void *it = NULL;
	char *name = NULL, *value = NULL;
	long code;
	int ret = KS_EOK;

	code = profile_iterator_create(l->prof, names,
				       PROFILE_ITER_LIST_SECTION, &it);
	if (code != 0)
		return prof_err(l, code, "cannot read the file");
	while ((code = profile_iterator(&it, &name, &value)) == 0 &&
	       name != NULL) {
		if (value != NULL) {
			ret = say(
				l, KS_ECONFVAL,
				"[peers] %s: expected a { address = ... } block",
				name);
			goto out;
		}
		ret = load_peer(l, name);
		if (ret != KS_EOK)
			goto out;
		profile_release_string(name);
		name = NULL;
	}
	if (code != 0)
		ret = prof_err(l, code, "cannot read the file");
out:
	profile_release_string(name);
	profile_release_string(value);
	profile_iterator_free(&it);
	return ret;
}

/* Rules that involve more than one key. */
static int cross_check(loader_t *l)
{
	node_conf_t *c = l->conf;
	const node_peer_conf_t *p;

	if (c->role == NODE_ROLE_PRIMARY) {
		if (c->listen.host == NULL)
			return say(
				l, KS_ECONFIG,
				"[node] listen: required for role = primary");
		if (c->primary != NULL)
			return say(l, KS_ECONFIG,
				   "[node] primary: only for role = replica");
	} else {
		if (c->primary == NULL)
			return say(
				l, KS_ECONFIG,
				"[node] primary: required for role = replica (name of a [peers] entry)");
		p = node_conf_peer(c, c->primary);
		if (p == NULL)
			return say(l, KS_ECONFIG,
				   "[node] primary: '%s' is not in [peers]",
				   c->primary);
		if (p->address.host == NULL || p->mode != NODE_PEER_NATIVE)
			return say(
				l, KS_ECONFIG,
				"[node] primary: [peers] %s needs an address and mode = native",
				c->primary);
	}
	if (node_conf_peer(c, c->name) != NULL)
		return say(l, KS_ECONFIG,
			   "[peers] %s: a node cannot be its own peer",
			   c->name);
	if (c->kprop_listen.host != NULL) {
		/* A kprop load and a native snapshot would both own the KDB's
		 * side database and the store's staging area, and a kprop load
		 * starts a history the native peers do not continue. */
		const char *native = NULL;
		if (c->role == NODE_ROLE_REPLICA)
			native = "[node] role = replica";
		for (size_t i = 0; native == NULL && i < c->n_peers; i++)
			if (c->peers[i].mode == NODE_PEER_NATIVE)
				native = "a [peers] entry with mode = native";
		if (native != NULL)
			return say(
				l, KS_ECONFIG,
				"[kprop] listen: not on a node that replicates natively (%s): kprop loads and the native stream would both replace the KDB and the store's staged records; run the kprop listener on a node without native peers",
				native);
	}
	if (c->keepalive_ms >= c->idle_timeout_ms)
		return say(
			l, KS_ECONFIG,
			"[tls] keepalive_interval: must be shorter than idle_timeout");
	if (c->reconnect_min_ms > c->reconnect_max_ms)
		return say(
			l, KS_ECONFIG,
			"[node] reconnect_min: must not exceed reconnect_max");
	return KS_EOK;
}

int node_conf_load(const char *path, node_conf_t **out, char *err,
		   size_t errlen)
{
	loader_t l = { .path = path, .err = err, .errlen = errlen };
	const char *top[] = { NULL };
	void *it = NULL;
	char *name = NULL, *value = NULL;
	struct stat st;
	long code;
	int ret;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (stat(path, &st) != 0) {
		int e = errno;
		return say(&l, e == ENOENT ? KS_ENOENT : KS_ECONFIG,
			   "cannot read configuration file (%s)", strerror(e));
	}
	if (!S_ISREG(st.st_mode) || access(path, R_OK) != 0)
		return say(
			&l, KS_ECONFIG,
			"cannot read configuration file (not a readable file)");
	l.conf = calloc(1, sizeof(*l.conf));
	if (l.conf == NULL)
		return KS_ENOMEM;
	if ((l.conf->path = strdup(path)) == NULL) {
		ret = KS_ENOMEM;
		goto fail;
	}
	code = profile_init_path(path, &l.prof);
	if (code != 0) {
		ret = prof_err(&l, code, "syntax error");
		goto fail;
	}
	/* Sections: only ours. */
	code = profile_iterator_create(
		l.prof, top,
		PROFILE_ITER_LIST_SECTION | PROFILE_ITER_SECTIONS_ONLY, &it);
	if (code != 0) {
		ret = prof_err(&l, code, "cannot read the file");
		goto fail;
	}
	ret = KS_EOK;
	while ((code = profile_iterator(&it, &name, &value)) == 0 &&
	       name != NULL) {
		if (strcmp(name, "node") != 0 && strcmp(name, "tls") != 0 &&
		    strcmp(name, "peers") != 0 && strcmp(name, "kprop") != 0 &&
		    strcmp(name, "metrics") != 0 && ret == KS_EOK)
			ret = say(
				&l, KS_ECONFKEY,
				"unknown section [%s] (expected [node], [tls], [peers], [kprop], [metrics])",
				name);
		profile_release_string(name);
		profile_release_string(value);
		name = value = NULL;
	}
	profile_iterator_free(&it);
	if (ret == KS_EOK && code != 0)
		ret = prof_err(&l, code, "cannot read the file");
	if (ret != KS_EOK)
		goto fail;
	if ((ret = load_section(&l, "node")) != KS_EOK ||
	    (ret = load_section(&l, "tls")) != KS_EOK ||
	    (ret = load_section(&l, "kprop")) != KS_EOK ||
	    (ret = load_section(&l, "metrics")) != KS_EOK ||
	    (ret = load_peers(&l)) != KS_EOK)
		goto fail;
	/* Defaults, then required keys. */
	for (size_t i = 0; i < N_KEYS; i++) {
		if (l.seen[i])
			continue;
		if (keys[i].required) {
			ret = say(&l, KS_ECONFIG, "[%s] %s: required",
				  keys[i].section, keys[i].name);
			goto fail;
		}
		if (keys[i].def != NULL &&
		    (ret = set_value(&l, &keys[i], keys[i].def)) != KS_EOK)
			goto fail;
	}
	if ((ret = cross_check(&l)) != KS_EOK)
		goto fail;
	profile_release(l.prof);
	*out = l.conf;
	return KS_EOK;
fail:
	if (l.prof != NULL)
		profile_release(l.prof);
	node_conf_free(l.conf);
	return ret;
}

int node_conf_state_dir(const char *path, char **out, char *err, size_t errlen)
{
	loader_t l = { .path = path, .err = err, .errlen = errlen };
	const char *names[] = { "node", "state_dir", NULL };
	char **vals = NULL;
	struct stat st;
	long code;
	int ret;

	if (stat(path, &st) != 0) {
		int e = errno;
		return say(&l, e == ENOENT ? KS_ENOENT : KS_ECONFIG,
			   "cannot read configuration file (%s)", strerror(e));
	}
	code = profile_init_path(path, &l.prof);
	if (code != 0)
		return prof_err(&l, code, "syntax error");
	code = profile_get_values(l.prof, names, &vals);
	if (code != 0 || vals[0] == NULL || vals[1] != NULL ||
	    vals[0][0] != '/')
		ret = say(
			&l, KS_ECONFIG,
			"[node] state_dir: missing, repeated or not absolute");
	else
		ret = (*out = strdup(vals[0])) ? KS_EOK : KS_ENOMEM;
	if (code == 0)
		profile_free_list(vals);
	profile_release(l.prof);
	return ret;
}

void node_conf_free(node_conf_t *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < N_KEYS; i++) {
		void *field = (char *)c + keys[i].off;
		switch (keys[i].type) {
		case K_NAME:
		case K_STRING:
		case K_PATH:
		case K_FILE:
			free(*(char **)field);
			break;
		case K_FILES: {
			node_strlist_t *sl = field;
			for (size_t j = 0; j < sl->n; j++)
				free(sl->v[j]);
			free(sl->v);
			break;
		}
		case K_HOSTPORT:
			free(((node_hostport_t *)field)->host);
			break;
		default:
			break;
		}
	}
	for (size_t i = 0; i < c->n_peers; i++) {
		free(c->peers[i].name);
		free(c->peers[i].address.host);
	}
	free(c->peers);
	free(c->path);
	free(c);
}

const node_peer_conf_t *node_conf_peer(const node_conf_t *c, const char *name)
{
	for (size_t i = 0; i < c->n_peers; i++)
		if (strcmp(c->peers[i].name, name) == 0)
			return &c->peers[i];
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

int node_conf_reloadable(const node_conf_t *cur, const node_conf_t *next,
			 char *err, size_t errlen)
{
	const char *key = NULL;

	if (!str_eq(cur->name, next->name))
		key = "[node] name";
	else if (cur->role != next->role)
		key = "[node] role";
	else if (!str_eq(cur->state_dir, next->state_dir))
		key = "[node] state_dir";
	else if (!str_eq(cur->listen.host, next->listen.host) ||
		 cur->listen.port != next->listen.port)
		key = "[node] listen";
	else if (!str_eq(cur->metrics_listen.host, next->metrics_listen.host) ||
		 cur->metrics_listen.port != next->metrics_listen.port)
		key = "[metrics] listen";
	if (key == NULL)
		return KS_EOK;
	if (err != NULL && errlen > 0)
		snprintf(
			err, errlen,
			"%s: %s cannot change while running (restart kdcsyncd)",
			next->path, key);
	return KS_ECONFIG;
}

const char *node_role_name(int role)
{
	return role == NODE_ROLE_REPLICA ? "replica" : "primary";
}

const char *node_peer_mode_name(int mode)
{
	return mode == NODE_PEER_KPROP ? modes[1] : modes[0];
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

	while (peer_keys[n] != NULL)
		n++;
	return N_KEYS + n;
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
	const key_t_ *k;
	char lo[32], hi[32];

	*out = (node_conf_key_info_t){ 0 };
	if (i >= N_KEYS) {
		out->section = "peers";
		out->name = peer_keys[i - N_KEYS];
		out->value = strcmp(out->name, "address") == 0 ? "HOST:PORT"
							       : "ENUM";
		out->def = strcmp(out->name, "mode") == 0 ? modes[0] : NULL;
		return;
	}
	k = &keys[i];
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
