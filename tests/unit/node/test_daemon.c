/* SPDX-License-Identifier: MIT */
/*
 * The daemon in-process: start from a configuration file, reload a broken
 * file (by call and by SIGHUP) and keep the running configuration, reload a
 * good one, then one whose KDC profile names a KDB that cannot be opened
 * (rejected after its check off the loop, the running one kept); status
 * text and JSON, a peer connects and shows up, then SIGTERM runs the loop
 * dry with every handle and descriptor released (ASan checks memory).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "certs.h"
#include "node/daemon.h"
#include "node/net/net.h"
#include "helpers/test.h"

static char *dir, *conf_path;
static const char *kdc_profile = "kdc.conf"; /* in dir, for write_conf */
static test_ca_t *ca;
static uint16_t port;

static uint16_t pick_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void write_conf(const char *extra_tls, const char *extra)
{
	FILE *f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f,
		"[node]\n\tname = alpha.test\n\trole = primary\n"
		"\tstate_dir = %s/state\n\tlisten = 127.0.0.1:%u\n"
		"\tkdc_profile = %s/%s\n"
		"[tls]\n\tca = %s\n\tcert = %s/alpha.crt\n\tkey = %s/alpha.key\n"
		"\tkeepalive_interval = 200ms\n\tidle_timeout = 2s\n%s"
		"[peers]\n\tbeta.test = {\n\t\tmode = native\n\t}\n%s",
		dir, port, dir, kdc_profile, test_ca_file(ca), dir, dir,
		extra_tls ? extra_tls : "", extra ? extra : "");
	fclose(f);
}

static uv_loop_t loop;
static bool tick;
static void on_tick(uv_timer_t *t)
{
	(void)t;
	tick = true;
}

static void run_for(uint64_t ms)
{
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	tick = false;
	uv_timer_start(&t, on_tick, ms, 0);
	while (!tick)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static char *status(node_daemon_t *d, bool json)
{
	static char text[8192];
	ks_buf_t b = KS_BUF_INIT;
	assert_ks_ok(node_daemon_status(d, json, &b));
	assert_true(b.len < sizeof(text));
	memcpy(text, b.data, b.len);
	text[b.len] = '\0';
	ks_buf_free(&b);
	return text;
}

static int peer_up;
static int on_est(node_conn_t *c, const char *peer, void *arg)
{
	(void)c;
	(void)arg;
	(void)peer;
	peer_up++;
	return 0;
}
static void on_closed(node_conn_t *c, int err, const char *r, void *arg)
{
	(void)c;
	(void)err;
	(void)r;
	(void)arg;
}

static void test_reload_and_shutdown(void **st)
{
	(void)st;
	node_conf_t *conf = NULL;
	node_daemon_t *d = NULL;
	char err[600];
	int fds0 = test_count_fds();

	write_conf(NULL, NULL);
	assert_ks_ok(node_conf_load(conf_path, &conf, err, sizeof(err)));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_ks_ok(node_daemon_new(&loop, conf, &d));
	assert_ks_ok(node_daemon_start(d));
	const node_conf_t *running = node_daemon_conf(d);
	assert_non_null(strstr(status(d, false), "node:      alpha.test"));

	/* a peer (beta) connects and shows up in the status */
	char crt[600], key[600];
	snprintf(crt, sizeof(crt), "%s/beta.crt", dir);
	snprintf(key, sizeof(key), "%s/beta.key", dir);
	node_tls_ctx_opts_t to = { test_ca_file(ca), crt, key, NULL, 0, NULL };
	node_tls_ctx_t *tls;
	assert_ks_ok(node_tls_ctx_new(&to, &tls));
	node_net_opts_t no = { .limits = { 2000, 2000, 200, 1 << 20, 0 },
			       .max_connections = 1 };
	node_conn_cbs_t cbs = { .established = on_est, .closed = on_closed };
	node_net_t *client;
	assert_ks_ok(node_net_new(&loop, tls, &no, &cbs, &client));
	assert_ks_ok(node_net_dial(client, "alpha.test", "127.0.0.1", port,
				   NULL, NULL));
	for (int i = 0; i < 50 && !strstr(status(d, true), "\"established\"");
	     i++)
		run_for(50);
	assert_int_equal(peer_up, 1);
	assert_non_null(strstr(
		status(d, true),
		"{\"name\":\"beta.test\",\"mode\":\"native\",\"state\":\"established\",\"direction\":\"inbound\""));

	/* broken file, by call: rejected, old configuration kept */
	write_conf("\tidle_timeout = forever\n", NULL);
	assert_ks_err(node_daemon_reload(d, err, sizeof(err)), KS_ECONFVAL);
	assert_non_null(strstr(err, "idle_timeout"));
	assert_non_null(strstr(err, conf_path));
	assert_ptr_equal(node_daemon_conf(d), running);
	/* a key that needs a restart */
	port++;
	write_conf(NULL, NULL);
	port--;
	assert_ks_err(node_daemon_reload(d, err, sizeof(err)), KS_ECONFIG);
	assert_non_null(strstr(err, "[node] listen cannot change"));
	assert_ptr_equal(node_daemon_conf(d), running);

	/* broken file, by SIGHUP: rejected, visible in the status */
	write_conf(NULL, "[bogus]\n\tx = 1\n");
	raise(SIGHUP);
	for (int i = 0;
	     i < 100 && !strstr(status(d, true), "\"reloads_rejected\":3"); i++)
		run_for(20);
	assert_non_null(strstr(status(d, true), "\"reloads_rejected\":3"));
	assert_non_null(strstr(status(d, false), "REJECTED: "));
	assert_non_null(strstr(status(d, false), "unknown section [bogus]"));
	assert_ptr_equal(node_daemon_conf(d), running);
	assert_non_null(
		strstr(status(d, false), "beta.test (native): established"));

	/* a good file is applied */
	write_conf("\tmax_connections = 7\n", NULL);
	raise(SIGHUP);
	for (int i = 0; i < 100 && node_daemon_conf(d) == running; i++)
		run_for(20);
	assert_ptr_not_equal(node_daemon_conf(d), running);
	assert_non_null(strstr(status(d, true), "\"reloads\":1,"));
	assert_non_null(strstr(status(d, true), "\"last_reload_error\":null"));
	assert_int_equal(node_daemon_conf(d)->max_connections, 7);
	/* the link survived the reload */
	assert_non_null(
		strstr(status(d, false), "beta.test (native): established"));

	/* a KDC profile whose KDB cannot be opened: the file passes, its KDB
	 * is checked off the loop (one reload at a time), then the reload is
	 * rejected and the running configuration kept */
	running = node_daemon_conf(d);
	char nodb[600];
	snprintf(nodb, sizeof(nodb), "%s/nodb.kdc.conf", dir);
	FILE *f = fopen(nodb, "w");
	assert_non_null(f);
	fprintf(f,
		"[realms]\n\tDAEMON.TEST = {\n\t\tdatabase_name = "
		"%s/gone/principal\n\t\tkey_stash_file = %s/stash\n\t}\n",
		dir, dir);
	fclose(f);
	kdc_profile = "nodb.kdc.conf";
	write_conf("\tmax_connections = 9\n", NULL);
	kdc_profile = "kdc.conf";
	assert_ks_ok(node_daemon_reload(d, err, sizeof(err)));
	assert_ks_err(node_daemon_reload(d, err, sizeof(err)), KS_EBUSY);
	for (int i = 0;
	     i < 250 && !strstr(status(d, true), "\"reloads_rejected\":4"); i++)
		run_for(20);
	assert_non_null(strstr(status(d, true), "\"reloads_rejected\":4"));
	assert_non_null(strstr(status(d, true), "\"reloads\":1,"));
	assert_non_null(strstr(status(d, false), "REJECTED: "));
	assert_non_null(strstr(status(d, false), "gone/principal"));
	assert_ptr_equal(node_daemon_conf(d), running);
	assert_int_equal(node_daemon_conf(d)->max_connections, 7);
	assert_non_null(
		strstr(status(d, false), "beta.test (native): established"));

	/* SIGTERM: orderly shutdown, the loop runs dry */
	node_net_close(client, NULL, NULL);
	raise(SIGTERM);
	uv_run(&loop, UV_RUN_DEFAULT);
	node_daemon_free(d);
	node_tls_ctx_detach(tls);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(test_count_fds(), fds0);
	char sock[600];
	snprintf(sock, sizeof(sock), "%s/state/kdcsyncd.sock", dir);
	assert_int_not_equal(access(sock, F_OK), 0);
}

/* A KDB of the test's own (a node does not start without one it can
 * open): kdb5_util create, the stock tool. */
static void make_realm(void)
{
	char path[600], cmd[2000];
	FILE *f;

	snprintf(path, sizeof(path), "%s/krb5.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[libdefaults]\n\tdefault_realm = DAEMON.TEST\n");
	fclose(f);
	setenv("KRB5_CONFIG", path, 1);
	snprintf(path, sizeof(path), "%s/kdc.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"[realms]\n\tDAEMON.TEST = {\n\t\tdatabase_name = "
		"%s/principal\n\t\tkey_stash_file = %s/stash\n"
		"\t\tmaster_key_type = aes256-cts-hmac-sha1-96\n\t}\n",
		dir, dir);
	fclose(f);
	setenv("KRB5_KDC_PROFILE", path, 1);
	snprintf(cmd, sizeof(cmd),
		 "kdb5_util -r DAEMON.TEST create -s -P test-master-pw "
		 ">%s/kdb5_util.log 2>&1",
		 dir);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **st)
{
	(void)st;
	dir = test_mkdtemp("ks-daemon");
	if (asprintf(&conf_path, "%s/kdcsync.conf", dir) < 0)
		return -1;
	ca = test_ca_new(dir, "ca");
	test_ca_issue(ca, dir, "alpha", "alpha.test", -1, 30);
	test_ca_issue(ca, dir, "beta", "beta.test", -1, 30);
	port = pick_port();
	make_realm();
	/*
	 * libuv opens a process-wide signal lock pipe at the first
	 * uv_signal_init and keeps it for the life of the process: open it
	 * now so the descriptor count compares like with like.
	 */
	uv_loop_t l;
	uv_signal_t s;
	uv_loop_init(&l);
	uv_signal_init(&l, &s);
	uv_close((uv_handle_t *)&s, NULL);
	uv_run(&l, UV_RUN_DEFAULT);
	uv_loop_close(&l);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	test_ca_free(ca);
	free(conf_path);
	test_rmtree_free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_and_shutdown),
	};
	return test_run_group(tests, setup, teardown);
}
