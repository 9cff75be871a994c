/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary bytes from the network into the TLS pump,
 * as a server (what any client can send) and as a client after its
 * ClientHello (what a fake server can answer).  The first input byte picks
 * the role and the chunk size, so chunk boundaries are fuzzed too.  The
 * pump must return KS_EOK or a KS_E* code, never crash or leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../unit/node/certs.h"
#include "common/errors.h"
#include "common/log.h"
#include "node/net/tls.h"

static node_tls_ctx_t *server_ctx, *client_ctx;
static char dir[] = "/tmp/ks-tls-fuzz.XXXXXX";

static int on_send(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return 0;
}

static int on_recv(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return 0;
}

static int on_est(void *arg, const char *peer)
{
	(void)arg;
	(void)peer;
	return 0;
}

static void cleanup(void)
{
	char cmd[200];
	node_tls_ctx_detach(server_ctx);
	node_tls_ctx_detach(client_ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove '%s'\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char crt[300], key[300];
	const char *peers[] = { "beta.fuzz" };
	(void)argc;
	(void)argv;
	ks_log_set_level_all(LOG_CRIT);
	if (mkdtemp(dir) == NULL)
		abort();
	test_ca_t *ca = test_ca_new(dir, "ca");
	test_ca_issue(ca, dir, "alpha", "alpha.fuzz", -1, 30);
	snprintf(crt, sizeof(crt), "%s/alpha.crt", dir);
	snprintf(key, sizeof(key), "%s/alpha.key", dir);
	node_tls_ctx_opts_t o = { test_ca_file(ca), crt, key, peers, 1, NULL };
	if (node_tls_ctx_new(&o, &server_ctx) != 0)
		abort();
	node_tls_ctx_opts_t c = { test_ca_file(ca), crt, key, NULL, 0, NULL };
	if (node_tls_ctx_new(&c, &client_ctx) != 0)
		abort();
	test_ca_free(ca);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	node_tls_io_t io = { NULL, on_send, on_recv, on_est };
	node_tls_t *t = NULL;
	bool server;
	size_t chunk;
	int ret = 0;

	if (size < 1)
		return 0;
	server = (data[0] & 0x80) == 0;
	chunk = (size_t)(data[0] & 0x7f) * 16 + 1;
	data++;
	size--;
	if (node_tls_new(server ? server_ctx : client_ctx, server, "alpha.fuzz",
			 &io, &t) != 0)
		return 0;
	if (!server)
		ret = node_tls_pump(t, NULL, 0); /* ClientHello */
	while (size > 0 && ret == 0) {
		size_t n = size < chunk ? size : chunk;
		ret = node_tls_pump(t, data, n);
		data += n;
		size -= n;
	}
	if (ret != 0 && node_tls_state(t) != NODE_TLS_CLOSED)
		abort(); /* a failure must leave the session closed */
	if (ret != 0 && node_tls_reason(t)[0] == '\0')
		abort(); /* and say why */
	node_tls_free(t);
	return 0;
}
