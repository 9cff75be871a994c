/* SPDX-License-Identifier: MIT */
/*
 * Configuration loading and validation (see conf.h): reading the file
 * with the profile library (called only here; its com_err codes are
 * translated here), walking its sections against the key table
 * (conf_keys.c), each value parsed by conf_value.c, then defaults,
 * required keys and the rules that involve more than one key.
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
#include "node/conf_int.h"

static const conf_key_t *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < node_conf__n_keys; i++)
		if (strcmp(node_conf__keys[i].section, section) == 0 &&
		    strcmp(node_conf__keys[i].name, name) == 0)
			return &node_conf__keys[i];
	return NULL;
}

/* Translate a profile library code (com_err space). */
static int prof_err(conf_loader_t *l, long code, const char *what)
{
	if (code == ENOMEM)
		return KS_ENOMEM;
	return node_conf__say(l, KS_ECONFIG, "%s (%s)", what,
			      error_message(code));
}

/* Walk one of [node] / [tls]: every relation must be in the table. */
static int load_section(conf_loader_t *l, const char *section)
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
		const conf_key_t *k = find_key(section, name);
		if (k == NULL) {
			ret = node_conf__say(l, KS_ECONFKEY,
					     "unknown key '%s' in [%s]", name,
					     section);
			goto out;
		}
		if (value == NULL) {
			ret = node_conf__say(
				l, KS_ECONFVAL,
				"[%s] %s: expected a value, found a { } block",
				section, name);
			goto out;
		}
		size_t idx = (size_t)(k - node_conf__keys);
		if (l->seen[idx] && k->type != K_FILES) {
			ret = node_conf__say(l, KS_ECONFVAL,
					     "[%s] %s: given more than once",
					     section, name);
			goto out;
		}
		l->seen[idx] = true;
		ret = node_conf__set_value(l, k, value);
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

static int load_peer(conf_loader_t *l, const char *pname)
{
	const char *names[] = { "peers", pname, NULL };
	void *it = NULL;
	char *name = NULL, *value = NULL;
	node_peer_conf_t *p;
	bool seen[2] = { false, false };
	long code;
	int ret = KS_EOK;

	if (!node_conf__valid_name(pname))
		return node_conf__say(
			l, KS_ECONFVAL,
			"[peers] '%s': not a valid peer name (the name in its certificate)",
			pname);
	for (size_t i = 0; i < l->conf->n_peers; i++)
		if (strcmp(l->conf->peers[i].name, pname) == 0)
			return node_conf__say(
				l, KS_ECONFVAL,
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
		for (int i = 0; node_conf__peer_keys[i] != NULL; i++)
			if (strcmp(name, node_conf__peer_keys[i]) == 0)
				which = i;
		if (which < 0) {
			ret = node_conf__say(l, KS_ECONFKEY,
					     "unknown key '%s' in [peers] %s",
					     name, pname);
			goto out;
		}
		if (value == NULL || value[0] == '\0' || seen[which]) {
			ret = node_conf__say(l, KS_ECONFVAL,
					     "[peers] %s.%s: %s", pname, name,
					     seen[which]
						     ? "given more than once"
						     : "expected a value");
			goto out;
		}
		seen[which] = true;
		if (which == 0) {
			ret = node_hostport_parse(value, &p->address);
			if (ret == KS_ECONFVAL)
				ret = node_conf__say(
					l, ret,
					"[peers] %s.address: '%s' is not HOST:PORT (port 1..65535)",
					pname, value);
		} else {
			int m = -1;
			for (int i = 0; node_conf__modes[i] != NULL; i++)
				if (strcmp(value, node_conf__modes[i]) == 0)
					m = i;
			if (m >= 0)
				p->mode = m;
			else
				ret = node_conf__say(
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
		ret = node_conf__say(
			l, KS_ECONFIG,
			"[peers] %s.address: required for mode = kprop", pname);
out:
	profile_release_string(name);
	profile_release_string(value);
	profile_iterator_free(&it);
	return ret;
}

static int load_peers(conf_loader_t *l)
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
			ret = node_conf__say(
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
static int cross_check(conf_loader_t *l)
{
	node_conf_t *c = l->conf;
	const node_peer_conf_t *p;

	if (c->role == NODE_ROLE_PRIMARY) {
		if (c->listen.host == NULL)
			return node_conf__say(
				l, KS_ECONFIG,
				"[node] listen: required for role = primary");
		if (c->primary != NULL)
			return node_conf__say(
				l, KS_ECONFIG,
				"[node] primary: only for role = replica");
	} else {
		if (c->primary == NULL)
			return node_conf__say(
				l, KS_ECONFIG,
				"[node] primary: required for role = replica (name of a [peers] entry)");
		p = node_conf_peer(c, c->primary);
		if (p == NULL)
			return node_conf__say(
				l, KS_ECONFIG,
				"[node] primary: '%s' is not in [peers]",
				c->primary);
		if (p->address.host == NULL || p->mode != NODE_PEER_NATIVE)
			return node_conf__say(
				l, KS_ECONFIG,
				"[node] primary: [peers] %s needs an address and mode = native",
				c->primary);
	}
	if (node_conf_peer(c, c->name) != NULL)
		return node_conf__say(
			l, KS_ECONFIG,
			"[peers] %s: a node cannot be its own peer", c->name);
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
			return node_conf__say(
				l, KS_ECONFIG,
				"[kprop] listen: not on a node that replicates natively (%s): kprop loads and the native stream would both replace the KDB and the store's staged records; run the kprop listener on a node without native peers",
				native);
	}
	if (c->keepalive_ms >= c->idle_timeout_ms)
		return node_conf__say(
			l, KS_ECONFIG,
			"[tls] keepalive_interval: must be shorter than idle_timeout");
	if (c->reconnect_min_ms > c->reconnect_max_ms)
		return node_conf__say(
			l, KS_ECONFIG,
			"[node] reconnect_min: must not exceed reconnect_max");
	return KS_EOK;
}

int node_conf_load(const char *path, node_conf_t **out, char *err,
		   size_t errlen)
{
	conf_loader_t l = { .path = path, .err = err, .errlen = errlen };
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
		return node_conf__say(&l, e == ENOENT ? KS_ENOENT : KS_ECONFIG,
				      "cannot read configuration file (%s)",
				      strerror(e));
	}
	if (!S_ISREG(st.st_mode) || access(path, R_OK) != 0)
		return node_conf__say(
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
			ret = node_conf__say(
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
	/* Defaults, then required node_conf__keys. */
	for (size_t i = 0; i < node_conf__n_keys; i++) {
		if (l.seen[i])
			continue;
		if (node_conf__keys[i].required) {
			ret = node_conf__say(&l, KS_ECONFIG,
					     "[%s] %s: required",
					     node_conf__keys[i].section,
					     node_conf__keys[i].name);
			goto fail;
		}
		if (node_conf__keys[i].def != NULL &&
		    (ret = node_conf__set_value(&l, &node_conf__keys[i],
						node_conf__keys[i].def)) !=
			    KS_EOK)
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
	conf_loader_t l = { .path = path, .err = err, .errlen = errlen };
	const char *names[] = { "node", "state_dir", NULL };
	char **vals = NULL;
	struct stat st;
	long code;
	int ret;

	if (stat(path, &st) != 0) {
		int e = errno;
		return node_conf__say(&l, e == ENOENT ? KS_ENOENT : KS_ECONFIG,
				      "cannot read configuration file (%s)",
				      strerror(e));
	}
	code = profile_init_path(path, &l.prof);
	if (code != 0)
		return prof_err(&l, code, "syntax error");
	code = profile_get_values(l.prof, names, &vals);
	if (code != 0 || vals[0] == NULL || vals[1] != NULL ||
	    vals[0][0] != '/')
		ret = node_conf__say(
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
	for (size_t i = 0; i < node_conf__n_keys; i++) {
		void *field = (char *)c + node_conf__keys[i].off;
		switch (node_conf__keys[i].type) {
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
