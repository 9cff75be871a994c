/* SPDX-License-Identifier: MIT */
/* The kdcsync kprop / kpropd subcommands (see cmd.h). */
#include "node/kprop/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/conf.h"
#include "node/kprop/io.h"
#include "node/kprop/push.h"
#include "node/kprop/serve.h"
#include "proto/kprop/kprop.h"

static int open_conf_store(const char *path, node_conf_t **conf, store_t **s)
{
	char err[600], dir[1100];
	int ret = node_conf_load(path, conf, err, sizeof(err));
	if (ret != KS_EOK) {
		fprintf(stderr, "kdcsync: %s\n",
			err[0] ? err : ks_strerror(ret));
		return ret;
	}
	snprintf(dir, sizeof(dir), "%s/store", (*conf)->state_dir);
	ret = store_open(dir, NULL, s);
	if (ret != KS_EOK)
		fprintf(stderr, "kdcsync: cannot open the store in '%s' (%s)\n",
			dir, ks_strerror(ret));
	return ret;
}

/* "HOST", "HOST:PORT", "[V6]:PORT", "[V6]". */
static int split_host(const char *arg, char *host, size_t hlen, uint16_t *port)
{
	const char *colon = NULL;
	if (arg[0] == '[') {
		const char *rb = strchr(arg, ']');
		if (rb == NULL || (size_t)(rb - arg - 1) >= hlen)
			return KS_EINVAL;
		memcpy(host, arg + 1, (size_t)(rb - arg - 1));
		host[rb - arg - 1] = '\0';
		if (rb[1] == ':')
			colon = rb + 1;
		else if (rb[1] != '\0')
			return KS_EINVAL;
	} else {
		colon = strrchr(arg, ':');
		if (colon != NULL && strchr(arg, ':') != colon)
			colon = NULL; /* bare IPv6: no port */
		size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
		if (n == 0 || n >= hlen)
			return KS_EINVAL;
		memcpy(host, arg, n);
		host[n] = '\0';
	}
	if (colon != NULL) {
		char *end;
		unsigned long p = strtoul(colon + 1, &end, 10);
		if (*end != '\0' || p == 0 || p > 65535 || colon[1] == '\0')
			return KS_EINVAL;
		*port = (uint16_t)p;
	}
	return KS_EOK;
}

int node_kprop_cmd_push(const char *conf_path, int argc, char **argv)
{
	node_conf_t *conf = NULL;
	store_t *s = NULL;
	char host[256];
	uint16_t port = KPROP_PORT;
	const char *target = NULL;
	int rc = 1;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-P") == 0 && i + 1 < argc) {
			char *end;
			unsigned long p = strtoul(argv[++i], &end, 10);
			if (*end != '\0' || p == 0 || p > 65535) {
				fprintf(stderr,
					"kdcsync: kprop: bad port '%s'\n",
					argv[i]);
				return 1;
			}
			port = (uint16_t)p;
		} else if (argv[i][0] == '-' || target != NULL) {
			fprintf(stderr,
				"usage: kdcsync -c FILE kprop [-P PORT] HOST[:PORT]\n");
			return 1;
		} else {
			target = argv[i];
		}
	}
	if (target == NULL ||
	    split_host(target, host, sizeof(host), &port) != KS_EOK) {
		fprintf(stderr,
			"usage: kdcsync -c FILE kprop [-P PORT] HOST[:PORT]\n");
		return 1;
	}
	if (open_conf_store(conf_path, &conf, &s) != KS_EOK)
		goto done;
	node_kprop_push_opts_t o = { .host = host,
				     .port = port,
				     .realm = conf->kprop_realm,
				     .keytab = conf->kprop_keytab,
				     .principal = conf->kprop_principal,
				     .timeout_ms = conf->kprop_timeout_ms };
	node_kprop_result_t res;
	if (node_kprop_push(&o, s, &res) == KS_EOK) {
		printf("Database propagation to %s: SUCCEEDED\n", host);
		rc = 0;
	} else {
		fprintf(stderr, "kdcsync: kprop: %s\n", res.reason);
	}
done:
	store_close(s);
	node_conf_free(conf);
	return rc;
}

int node_kprop_cmd_serve(const char *conf_path, int argc, char **argv)
{
	node_conf_t *conf = NULL;
	store_t *s = NULL;
	const char *port_file = NULL;
	bool once = false;
	int rc = 1, fd = -1;
	char err[600];

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0) {
			once = true;
		} else if (strcmp(argv[i], "--port-file") == 0 &&
			   i + 1 < argc) {
			port_file = argv[++i];
		} else {
			fprintf(stderr,
				"usage: kdcsync -c FILE kpropd [--once] [--port-file F]\n");
			return 1;
		}
	}
	/* A listener reports every transfer on stderr, as kpropd -d. */
	ks_log_set_level_all(LOG_INFO);
	if (open_conf_store(conf_path, &conf, &s) != KS_EOK)
		goto done;
	uint16_t port =
		conf->kprop_listen.host ? conf->kprop_listen.port : KPROP_PORT;
	fd = kprop_io_listen(conf->kprop_listen.host, &port, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "kdcsync: kpropd: %s\n", err);
		goto done;
	}
	if (port_file != NULL) {
		FILE *f = fopen(port_file, "w");
		if (f != NULL) {
			fprintf(f, "%u\n", port);
			fclose(f);
		}
	}
	ks_log_notice(KPROP, "kprop listener ready on port %u", port);
	node_kprop_serve_opts_t o = {
		.realm = conf->kprop_realm,
		.keytab = conf->kprop_keytab,
		.principal = conf->kprop_principal,
		.acl_file = conf->kprop_acl_file,
		.timeout_ms = conf->kprop_timeout_ms,
		.bridge = { .realm = conf->kprop_realm,
			    .kdc_profile = conf->kdc_profile,
			    .replicate_lockout = conf->replicate_lockout },
	};
	int ret = node_kprop_serve_loop(&o, s, fd, NULL, once);
	rc = ret == KS_EOK ? 0 : 1;
done:
	if (fd >= 0)
		close(fd);
	store_close(s);
	node_conf_free(conf);
	return rc;
}
