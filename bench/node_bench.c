/* SPDX-License-Identifier: MIT */
/*
 * node benchmark: the mutual-TLS link over libuv on loopback, in one
 * process and one loop (both ends share a core, so figures are a floor):
 *   - full mutual-TLS handshakes (connect to authenticated), latency and rate;
 *   - small-frame round trips (send, peer answers) latency;
 *   - one-way frame throughput for several frame sizes, with the producer
 *     obeying back-pressure (node_conn_congested / writable).
 * Prints a table and one JSON line; never asserts on time.  Build in a
 * release (non-sanitizer) tree for meaningful figures.
 * Usage: node_bench [MiB per throughput run, default 64]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "../tests/unit/node/certs.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/time.h"
#include "node/net/net.h"
#include "proto/frame.h"

static uv_loop_t loop;
static node_net_t *srv, *cli;
static node_conn_t *cconn, *sconn;
static int established;
static uint64_t rx_frames, rx_bytes, pongs;
static bool echo;

static int on_est(node_conn_t *c, const char *peer, void *arg)
{
	(void)peer;
	if (arg == NULL) {
		sconn = c;
		node_net_set_arg(c, &sconn);
	} else {
		cconn = c;
	}
	established++;
	return 0;
}

static int on_frame(node_conn_t *c, ks_view_t f, void *arg)
{
	if (arg == &sconn) { /* server side */
		rx_frames++;
		rx_bytes += f.len;
		if (echo)
			return node_conn_send(c, "\0\0\0\1\x42", 5);
	} else {
		pongs++;
	}
	return 0;
}

static bool want_more;
static void on_writable(node_conn_t *c, void *arg)
{
	(void)c;
	(void)arg;
	want_more = true;
}

static void on_closed(node_conn_t *c, int err, const char *r, void *arg)
{
	(void)err;
	(void)r;
	(void)arg;
	if (c == cconn)
		cconn = NULL;
	if (c == sconn)
		sconn = NULL;
}

static const node_conn_cbs_t cbs = { on_est, on_frame, on_writable, on_closed };

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[(size_t)(p * (double)(n - 1))] / 1e3; /* ns -> us */
}

static void die(const char *what, int ret)
{
	fprintf(stderr, "node_bench: %s (%s)\n", what, ks_strerror(ret));
	exit(1);
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 64;
	char tmpl[] = "/tmp/ks-node-bench.XXXXXX";
	char *dir = mkdtemp(tmpl), crt[300], key[300];
	const char *srv_peers[] = { "beta.bench" };
	node_tls_ctx_t *stls, *ctls;
	int ret;

	if (dir == NULL || mib == 0)
		return 1;
	ks_log_set_level_all(LOG_WARNING);
	test_ca_t *ca = test_ca_new(dir, "ca");
	test_ca_issue(ca, dir, "alpha", "alpha.bench", -1, 30);
	test_ca_issue(ca, dir, "beta", "beta.bench", -1, 30);
	snprintf(crt, sizeof(crt), "%s/alpha.crt", dir);
	snprintf(key, sizeof(key), "%s/alpha.key", dir);
	node_tls_ctx_opts_t so = { test_ca_file(ca), crt, key,
				   srv_peers,	     1,	  "alpha.bench" };
	if ((ret = node_tls_ctx_new(&so, &stls)) != 0)
		die("server tls", ret);
	snprintf(crt, sizeof(crt), "%s/beta.crt", dir);
	snprintf(key, sizeof(key), "%s/beta.key", dir);
	node_tls_ctx_opts_t co = { test_ca_file(ca), crt, key, NULL, 0,
				   "beta.bench" };
	if ((ret = node_tls_ctx_new(&co, &ctls)) != 0)
		die("client tls", ret);
	node_net_opts_t o = { .limits = { 10000, 600000, 300000,
					  4 * 1024 * 1024, 0 },
			      .max_connections = 64 };
	uv_loop_init(&loop);
	if ((ret = node_net_new(&loop, stls, &o, &cbs, &srv)) != 0 ||
	    (ret = node_net_new(&loop, ctls, &o, &cbs, &cli)) != 0 ||
	    (ret = node_net_listen(srv, "127.0.0.1", 0)) != 0)
		die("net", ret);
	uint16_t port = node_net_port(srv);

	/* 1. handshakes */
	enum {
		NHS = 300
	};
	static uint64_t hs[NHS];
	uint64_t t0 = ks_mono_ns();
	for (int i = 0; i < NHS; i++) {
		int e = established;
		uint64_t s = ks_mono_ns();
		node_net_dial(cli, "alpha.bench", "127.0.0.1", port, &cconn,
			      NULL);
		while (established < e + 2)
			uv_run(&loop, UV_RUN_ONCE);
		hs[i] = ks_mono_ns() - s;
		if (i < NHS - 1) {
			node_conn_close(cconn, 0, "bench");
			while (node_net_count(srv) + node_net_count(cli) > 0)
				uv_run(&loop, UV_RUN_ONCE);
		}
	}
	double hs_total_s = (double)(ks_mono_ns() - t0) / 1e9;
	double hs_p50 = pct(hs, NHS, 0.5), hs_p99 = pct(hs, NHS, 0.99);

	/* 2. small-frame round trips */
	enum {
		NRT = 5000
	};
	static uint64_t rt[NRT];
	echo = true;
	for (int i = 0; i < NRT; i++) {
		uint64_t p = pongs, s = ks_mono_ns();
		node_conn_send(cconn, "\0\0\0\x09\x42pingping", 13);
		while (pongs == p)
			uv_run(&loop, UV_RUN_ONCE);
		rt[i] = ks_mono_ns() - s;
	}
	echo = false;
	double rt_p50 = pct(rt, NRT, 0.5), rt_p99 = pct(rt, NRT, 0.99);

	/* 3. throughput per frame size, obeying back-pressure */
	static const size_t sizes[] = { 64, 1024, 16384, 262144 };
	double mbps[4], fps[4];
	for (size_t k = 0; k < 4; k++) {
		ks_buf_t fr = KS_BUF_INIT;
		size_t n = sizes[k];
		proto_frame_put_prefix(&fr, n);
		ks_buf_reserve(&fr, n);
		memset(fr.data + fr.len, 0x42, n);
		fr.len += n;
		uint64_t total = mib * 1024 * 1024 / n, sent = 0;
		rx_frames = rx_bytes = 0;
		uint64_t s = ks_mono_ns();
		while (rx_frames < total) {
			while (sent < total && !node_conn_congested(cconn)) {
				node_conn_send(cconn, fr.data, fr.len);
				sent++;
			}
			want_more = false;
			uv_run(&loop, UV_RUN_ONCE);
		}
		double secs = (double)(ks_mono_ns() - s) / 1e9;
		mbps[k] = (double)rx_bytes / secs / 1e6;
		fps[k] = (double)rx_frames / secs;
		ks_buf_free(&fr);
	}

	printf("node link benchmark (loopback, one process, one loop; TLS %s)\n",
	       "1.3 mutual");
	printf("%-34s %12s %12s\n", "measure", "p50", "p99");
	printf("%-34s %10.0f us %10.0f us   (%d handshakes, %.0f/s)\n",
	       "handshake (connect to authenticated)", hs_p50, hs_p99, NHS,
	       NHS / hs_total_s);
	printf("%-34s %10.1f us %10.1f us   (%d round trips)\n",
	       "small frame round trip", rt_p50, rt_p99, NRT);
	printf("\n%-12s %14s %14s   (%llu MiB per run, 4 MiB write-queue limit)\n",
	       "frame bytes", "MB/s", "frames/s", (unsigned long long)mib);
	for (size_t k = 0; k < 4; k++)
		printf("%-12zu %14.1f %14.0f\n", sizes[k], mbps[k], fps[k]);
	printf("{\"bench\":\"node_link\",\"handshake_p50_us\":%.0f,\"handshake_p99_us\":%.0f,"
	       "\"handshakes_per_s\":%.0f,\"rtt_p50_us\":%.1f,\"rtt_p99_us\":%.1f",
	       hs_p50, hs_p99, NHS / hs_total_s, rt_p50, rt_p99);
	for (size_t k = 0; k < 4; k++)
		printf(",\"mbps_%zu\":%.1f,\"fps_%zu\":%.0f", sizes[k], mbps[k],
		       sizes[k], fps[k]);
	printf("}\n");

	node_net_close(cli, NULL, NULL);
	node_net_close(srv, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	node_tls_ctx_detach(stls);
	node_tls_ctx_detach(ctls);
	test_ca_free(ca);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return 0;
}
