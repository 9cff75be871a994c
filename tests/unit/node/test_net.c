/* SPDX-License-Identifier: MIT */
/*
 * node/net on loopback with real sockets: a good pair exchanges frames while
 * bad clients (other CA, wrong name, expired, no certificate, plaintext,
 * random bytes, stalled handshake) are each refused with a specific logged
 * reason; connection cap; keepalive and idle timeout; back-pressure; and
 * 1,000 connect/disconnect cycles without leaking descriptors (ASan checks
 * memory).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "certs.h"
#include "common/log.h"
#include "node/net/net.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "helpers/test.h"

static char *dir;
static test_ca_t *ca, *other_ca;
static uv_loop_t loop;

/* What one side's owner saw. */
typedef struct side {
	node_net_t *net;
	node_tls_ctx_t *tls;
	int established;
	int closed;
	int refused; /* closed before established */
	int last_err;
	char last_reason[200];
	char last_peer[64];
	uint64_t acks;	   /* ACK frames received */
	uint64_t last_seq; /* seq of the last ACK */
	bool echo;	   /* answer each ACK with seq + 1000 */
	int writable;
	node_conn_t *conn; /* the latest established connection */
} side_t;

static side_t srv, cli;

static int on_est(node_conn_t *c, const char *peer, void *arg)
{
	side_t *s = arg ? arg : &srv;
	s->established++;
	s->conn = c;
	snprintf(s->last_peer, sizeof(s->last_peer), "%s", peer);
	node_net_set_arg(c, s);
	return 0;
}

static int send_ack(node_conn_t *c, uint64_t seq)
{
	proto_msg_t m = { .type = PROTO_MSG_ACK };
	ks_buf_t b = KS_BUF_INIT;
	m.u.ack.seq = seq;
	int ret = proto_msg_encode(&m, &b);
	if (ret == 0)
		ret = node_conn_send(c, b.data, b.len);
	ks_buf_free(&b);
	return ret;
}

static int on_frame(node_conn_t *c, ks_view_t f, void *arg)
{
	side_t *s = arg;
	proto_msg_t m;
	int ret = proto_msg_decode(f, &m);
	if (ret != 0)
		return ret;
	if (m.type != PROTO_MSG_ACK)
		return KS_ETYPE;
	s->acks++;
	s->last_seq = m.u.ack.seq;
	if (s->echo)
		return send_ack(c, m.u.ack.seq + 1000);
	return 0;
}

static void on_writable(node_conn_t *c, void *arg)
{
	side_t *s = arg;
	(void)c;
	s->writable++;
}

static void on_closed(node_conn_t *c, int err, const char *reason, void *arg)
{
	side_t *s = arg ? arg : &srv;
	if (arg == NULL) /* never established on the server: refused */
		s->refused++;
	s->closed++;
	s->last_err = err;
	snprintf(s->last_reason, sizeof(s->last_reason), "%s", reason);
	if (s->conn == c)
		s->conn = NULL;
}

static const node_conn_cbs_t cbs = { on_est, on_frame, on_writable, on_closed };

static node_tls_ctx_t *make_ctx(const char *id, const char *cafile,
				const char *peer)
{
	char *crt = NULL, *key = NULL;
	node_tls_ctx_t *ctx = NULL;
	const char *peers[] = { peer };
	if (id && (asprintf(&crt, "%s/%s.crt", dir, id) < 0 ||
		   asprintf(&key, "%s/%s.key", dir, id) < 0))
		abort();
	node_tls_ctx_opts_t o = { cafile, crt, key, peers, peer ? 1 : 0, NULL };
	assert_ks_ok(node_tls_ctx_new(&o, &ctx));
	free(crt);
	free(key);
	return ctx;
}

static node_net_opts_t opts(uint64_t ka, uint64_t idle, unsigned maxc)
{
	node_net_opts_t o = {
		.limits = { .handshake_timeout_ms = 1500,
			    .idle_timeout_ms = idle,
			    .keepalive_ms = ka,
			    .write_queue_limit = 256 * 1024 },
		.max_connections = maxc,
	};
	return o;
}

static bool timed_out;
static void on_deadline(uv_timer_t *t)
{
	(void)t;
	timed_out = true;
}

/* Run the loop until *cond or the deadline. */
#define RUN_UNTIL(cond, ms)                                                    \
	do {                                                                   \
		uv_timer_t dl;                                                 \
		uv_timer_init(&loop, &dl);                                     \
		timed_out = false;                                             \
		uv_timer_start(&dl, on_deadline, (ms), 0);                     \
		while (!(cond) && !timed_out)                                  \
			uv_run(&loop, UV_RUN_ONCE);                            \
		uv_close((uv_handle_t *)&dl, NULL);                            \
		uv_run(&loop, UV_RUN_NOWAIT);                                  \
		if (!(cond))                                                   \
			fail_msg("timed out waiting for %s", #cond);           \
	} while (0)

/* Run the loop for \p ms. */
static void run_for(uint64_t ms)
{
	uv_timer_t dl;
	uv_timer_init(&loop, &dl);
	timed_out = false;
	uv_timer_start(&dl, on_deadline, ms, 0);
	while (!timed_out)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&dl, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

/* Capture the log (stderr) into a file between begin and end. */
static int saved_stderr = -1;
static char logpath[512];
static void log_begin(void)
{
	snprintf(logpath, sizeof(logpath), "%s/log.txt", dir);
	int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static char *log_end(void)
{
	static char buf[65536];
	dup2(saved_stderr, 2);
	close(saved_stderr);
	FILE *f = fopen(logpath, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	fputs(buf, stdout);
	return buf;
}

static void start_server(node_net_opts_t o)
{
	memset(&srv, 0, sizeof(srv));
	srv.echo = true;
	srv.tls = make_ctx("alpha", test_ca_file(ca), "beta.test");
	assert_ks_ok(node_net_new(&loop, srv.tls, &o, &cbs, &srv.net));
	assert_ks_ok(node_net_listen(srv.net, "127.0.0.1", 0));
	assert_true(node_net_port(srv.net) > 0);
}

static void start_client(const char *id, const char *cafile, node_net_opts_t o)
{
	memset(&cli, 0, sizeof(cli));
	cli.tls = make_ctx(id, cafile, NULL);
	assert_ks_ok(node_net_new(&loop, cli.tls, &o, &cbs, &cli.net));
}

static bool closed_flag;
static void on_net_closed(void *arg)
{
	(void)arg;
	closed_flag = true;
}

static void stop_side(side_t *s)
{
	closed_flag = false;
	node_net_close(s->net, on_net_closed, NULL);
	RUN_UNTIL(closed_flag, 5000);
	node_tls_ctx_detach(s->tls);
	s->net = NULL;
}

static void round_trip(uint64_t seq)
{
	uint64_t before = cli.acks;
	assert_non_null(cli.conn);
	assert_ks_ok(send_ack(cli.conn, seq));
	RUN_UNTIL(cli.acks > before, 3000);
	assert_int_equal(cli.last_seq, seq + 1000);
}

/* A raw socket client: connect, send bytes, keep it open. */
/* A plain TCP connection from source address \p from (a loopback one). */
static int raw_connect_from(const char *from, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	struct sockaddr_in src = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	inet_pton(AF_INET, from, &src.sin_addr);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int raw_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Expect the server to refuse the next connection with err and reason. */
static void expect_refusal(int err, const char *reason, const char *logged)
{
	int before = srv.refused;
	RUN_UNTIL(srv.refused > before, 4000);
	assert_ks_err(srv.last_err, err);
	if (strstr(srv.last_reason, reason) == NULL)
		fail_msg("reason '%s' lacks '%s'", srv.last_reason, reason);
	char *log = log_end();
	if (strstr(log, logged) == NULL)
		fail_msg("log lacks '%s'", logged);
	log_begin();
}

/* A TLS client with the given certificate; waits for the server's verdict. */
static void bad_tls_client(const char *id, const char *cafile)
{
	node_tls_ctx_t *t = make_ctx(id, cafile, NULL);
	node_net_opts_t o = opts(1000, 5000, 4);
	node_net_t *n;
	side_t bad = { 0 };
	int before = srv.refused;

	assert_ks_ok(node_net_new(&loop, t, &o, &cbs, &n));
	assert_ks_ok(node_net_dial(n, "alpha.test", "127.0.0.1",
				   node_net_port(srv.net), &bad, NULL));
	RUN_UNTIL(srv.refused > before && bad.closed > 0, 4000);
	closed_flag = false;
	node_net_close(n, on_net_closed, NULL);
	RUN_UNTIL(closed_flag, 3000);
	node_tls_ctx_detach(t);
}

static void connect_pair(node_net_opts_t so, node_net_opts_t co)
{
	start_server(so);
	start_client("beta", test_ca_file(ca), co);
	assert_ks_ok(node_net_dial(cli.net, "alpha.test", "127.0.0.1",
				   node_net_port(srv.net), &cli, NULL));
	RUN_UNTIL(cli.established == 1 && srv.established == 1, 3000);
	assert_string_equal(cli.last_peer, "alpha.test");
	assert_string_equal(srv.last_peer, "beta.test");
}

static void test_good_pair_and_refusals(void **st)
{
	(void)st;
	connect_pair(opts(1000, 5000, 16), opts(1000, 5000, 16));
	round_trip(1);
	round_trip(2);

	struct {
		const char *id;
		int err;
		const char *reason;
	} bad[] = {
		{ "foreign", KS_ECERT, "peer certificate rejected" },
		{ "gamma", KS_EPEERNAME, "names no configured peer" },
		{ "expired", KS_ECERT, "certificate has expired" },
		{ NULL, KS_ENOCERT, "no certificate" },
	};
	log_begin();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bad_tls_client(bad[i].id, test_ca_file(ca));
		assert_ks_err(srv.last_err, bad[i].err);
		if (strstr(srv.last_reason, bad[i].reason) == NULL)
			fail_msg("case %zu: reason '%s' lacks '%s'", i,
				 srv.last_reason, bad[i].reason);
		char *log = log_end();
		if (strstr(log, "refused connection from ") == NULL ||
		    strstr(log, bad[i].reason) == NULL)
			fail_msg("case %zu: log lacks the refusal", i);
		log_begin();
		round_trip(10 + i); /* the good peer is still served */
	}

	/* plaintext client */
	int fd = raw_connect(node_net_port(srv.net));
	const char *http = "GET / HTTP/1.0\r\n\r\n";
	assert_int_equal(write(fd, http, strlen(http)), (ssize_t)strlen(http));
	expect_refusal(KS_ETLS, "not a TLS peer", "not a TLS peer");
	close(fd);
	round_trip(20);

	/* a TLS record header announcing application data, then junk */
	uint64_t seed = test_seed();
	uint8_t junk[600];
	test_fill_random(junk, sizeof(junk), &seed);
	memcpy(junk, "\x17\x03\x03\x00\xc8", 5);
	fd = raw_connect(node_net_port(srv.net));
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	expect_refusal(KS_ETLS, "TLS", "refused connection from");
	close(fd);
	/* fully random bytes, several draws: always refused */
	for (int i = 0; i < 5; i++) {
		int before = srv.refused;
		test_fill_random(junk, sizeof(junk), &seed);
		fd = raw_connect(node_net_port(srv.net));
		assert_int_equal(write(fd, junk, sizeof(junk)),
				 (ssize_t)sizeof(junk));
		RUN_UNTIL(srv.refused > before, 4000);
		assert_true(srv.last_err == KS_ETLS ||
			    srv.last_err == KS_ETIMEDOUT);
		close(fd);
	}
	round_trip(21);

	/* a client that opens, sends part of a ClientHello and stalls */
	fd = raw_connect(node_net_port(srv.net));
	const uint8_t partial[] = { 0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00 };
	assert_int_equal(write(fd, partial, sizeof(partial)),
			 (ssize_t)sizeof(partial));
	expect_refusal(KS_ETIMEDOUT, "handshake timed out",
		       "handshake timed out after 1500 ms");
	close(fd);
	/* one that connects and says nothing */
	fd = raw_connect(node_net_port(srv.net));
	expect_refusal(KS_ETIMEDOUT, "handshake timed out",
		       "handshake timed out");
	close(fd);
	log_end();
	round_trip(22);
	assert_int_equal(srv.established, 1);
	assert_int_equal(srv.closed, srv.refused);

	stop_side(&cli);
	stop_side(&srv);
	/* the orderly shutdown reached the peer's owner as a clean close */
	assert_int_equal(cli.closed, 1);
	assert_int_equal(cli.last_err, 0);
}

/* A server that trusts another CA refuses the client, which learns why. */
static void test_client_side_refusals(void **st)
{
	(void)st;
	start_server(opts(1000, 5000, 16));
	/* client trusts only the other CA: the server is not trusted */
	start_client("beta", test_ca_file(other_ca), opts(1000, 5000, 16));
	assert_ks_ok(node_net_dial(cli.net, "alpha.test", "127.0.0.1",
				   node_net_port(srv.net), &cli, NULL));
	RUN_UNTIL(cli.closed == 1, 3000);
	assert_ks_err(cli.last_err, KS_ECERT);
	assert_int_equal(cli.established, 0);
	/* client dials expecting another name */
	assert_ks_ok(node_net_dial(cli.net, "delta.test", "127.0.0.1",
				   node_net_port(srv.net), &cli, NULL));
	RUN_UNTIL(cli.closed == 2, 3000);
	assert_ks_err(cli.last_err, KS_ECERT);
	stop_side(&cli);
	start_client("beta", test_ca_file(ca), opts(1000, 5000, 16));
	assert_ks_ok(node_net_dial(cli.net, "delta.test", "127.0.0.1",
				   node_net_port(srv.net), &cli, NULL));
	RUN_UNTIL(cli.closed == 1, 3000);
	assert_ks_err(cli.last_err, KS_EPEERNAME);
	/* nobody listening */
	uint16_t port = node_net_port(srv.net);
	stop_side(&srv);
	assert_ks_ok(node_net_dial(cli.net, "alpha.test", "127.0.0.1", port,
				   &cli, NULL));
	RUN_UNTIL(cli.closed == 2, 3000);
	assert_ks_err(cli.last_err, KS_ECONNREFUSED);
	stop_side(&cli);
}

/* Keepalives keep an idle link up; a silent peer hits the idle timeout. */
static void test_keepalive_and_idle(void **st)
{
	(void)st;
	connect_pair(opts(100, 2000, 16), opts(100, 2000, 16));
	node_conn_t *c = cli.conn;
	uint64_t f0 = node_conn_frames_in(c);
	run_for(1200);
	assert_int_equal(cli.closed, 0);
	assert_int_equal(srv.closed, 0);
	assert_true(node_conn_frames_in(c) >= f0 + 5); /* keepalives */
	assert_int_equal(cli.acks, 0); /* swallowed, never handed up */
	stop_side(&cli);
	stop_side(&srv);

	/* client never sends keepalives within the server's idle timeout */
	connect_pair(opts(100, 400, 16), opts(60000, 60000, 16));
	RUN_UNTIL(srv.closed == 1, 3000);
	assert_ks_err(srv.last_err, KS_ETIMEDOUT);
	assert_non_null(strstr(srv.last_reason, "idle timeout"));
	RUN_UNTIL(cli.closed == 1, 3000);
	stop_side(&cli);
	stop_side(&srv);
}

/* Whether the server closed fd (EOF or reset) within \p ms. */
static bool closed_by_server(int fd, uint64_t ms)
{
	char byte;
	uint64_t until = uv_now(&loop) + ms;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (uv_now(&loop) < until) {
		ssize_t r = read(fd, &byte, 1);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			return true;
		run_for(20);
	}
	return false;
}

/*
 * Admission on real sockets: handshakes from one address are capped, the
 * oldest unknown handshake is evicted for a newcomer, a configured peer's
 * address always gets in, and an address that authenticated as a peer is
 * known from then on.
 */
static void test_admission(void **st)
{
	(void)st;
	node_net_opts_t o = opts(1000, 5000, 5);
	const char *peer_addrs[] = { "127.0.0.3" };
	o.max_handshakes = 2;
	o.max_per_address = 2;
	o.reserved = 2;
	o.peer_addrs = peer_addrs;
	o.n_peer_addrs = 1;
	start_server(o);
	uint16_t port = node_net_port(srv.net);

	int a = raw_connect_from("127.0.0.2", port);
	int b = raw_connect_from("127.0.0.2", port);
	run_for(100);
	assert_int_equal(node_net_handshakes(srv.net), 2);
	/* a third from the same address: refused, the first two stay */
	log_begin();
	int c = raw_connect_from("127.0.0.2", port);
	RUN_UNTIL(node_net_refused(srv.net) == 1, 2000);
	assert_true(closed_by_server(c, 2000));
	char *log = log_end();
	assert_non_null(strstr(log, "refused connection from 127.0.0.2: too "
				    "many unauthenticated connections"));
	/* another address: the handshake slots are full, the oldest goes */
	int d = raw_connect_from("127.0.0.4", port);
	RUN_UNTIL(node_net_evicted(srv.net) == 1, 2000);
	assert_true(closed_by_server(a, 2000));
	assert_false(closed_by_server(b, 100));
	assert_false(closed_by_server(d, 100));
	/* the configured peer's address: in while any slot is free (3 of
	 * 5: b, d, e), then by evicting unknown handshakes (b, then d) */
	int e = raw_connect_from("127.0.0.3", port);
	int f = raw_connect_from("127.0.0.3", port);
	int g = raw_connect_from("127.0.0.3", port);
	run_for(200);
	assert_int_equal(node_net_count(srv.net), 5);
	int h = raw_connect_from("127.0.0.3", port);
	RUN_UNTIL(node_net_evicted(srv.net) == 2, 2000);
	assert_true(closed_by_server(b, 2000));
	int i = raw_connect_from("127.0.0.3", port);
	RUN_UNTIL(node_net_evicted(srv.net) == 3, 2000);
	assert_true(closed_by_server(d, 2000));
	/* full of known handshakes: nothing to evict, refused */
	int j = raw_connect_from("127.0.0.3", port);
	RUN_UNTIL(node_net_refused(srv.net) == 2, 2000);
	assert_true(closed_by_server(j, 2000));
	assert_false(closed_by_server(e, 50));
	int fds[] = { a, b, c, d, e, f, g, h, i, j };
	for (size_t k = 0; k < sizeof(fds) / sizeof(fds[0]); k++)
		close(fds[k]);
	RUN_UNTIL(node_net_count(srv.net) == 0, 3000);

	/* a peer that authenticates from 127.0.0.1 makes that address known:
	 * with its link up and unknown handshakes at their cap, another
	 * connection from it is still let in */
	start_client("beta", test_ca_file(ca), opts(1000, 5000, 16));
	assert_ks_ok(node_net_dial(cli.net, "alpha.test", "127.0.0.1", port,
				   &cli, NULL));
	RUN_UNTIL(cli.established == 1 && srv.established == 1, 3000);
	int u1 = raw_connect_from("127.0.0.5", port);
	int u2 = raw_connect_from("127.0.0.6", port);
	run_for(100);
	uint64_t ev = node_net_evicted(srv.net);
	int k1 = raw_connect_from("127.0.0.1", port);
	run_for(200);
	assert_int_equal(node_net_evicted(srv.net), ev);
	assert_int_equal(node_net_handshakes(srv.net), 3);
	assert_false(closed_by_server(k1, 50));
	round_trip(1); /* the established link is untouched */
	close(u1);
	close(u2);
	close(k1);
	stop_side(&cli);
	stop_side(&srv);
}

/* Past the write-queue limit the sender is told to stop, then resumed. */
static void test_back_pressure(void **st)
{
	(void)st;
	connect_pair(opts(1000, 5000, 16), opts(1000, 5000, 16));
	srv.echo = false;
	cli.echo = false;
	node_conn_t *c = srv.conn;
	int sent = 0;
	ks_buf_t big = KS_BUF_INIT;
	proto_msg_t m = { .type = PROTO_MSG_ACK };
	assert_ks_ok(proto_msg_encode(&m, &big));
	while (!node_conn_congested(c) && sent < 2000000) {
		/* many small frames in one go, as a producer would */
		assert_ks_ok(node_conn_send(c, big.data, big.len));
		sent++;
	}
	assert_true(node_conn_congested(c));
	RUN_UNTIL(srv.writable >= 1 && cli.acks == (uint64_t)sent, 10000);
	assert_false(node_conn_congested(c));
	ks_buf_free(&big);
	stop_side(&cli);
	stop_side(&srv);
}

/*
 * The owner's pause: a paused side reads nothing (the frames and the
 * peer's keepalives wait in the socket) and is not closed by its idle
 * timeout meanwhile; after the resume every frame arrives, in order, and
 * the link stays up.
 */
static void test_owner_pause(void **st)
{
	(void)st;
	connect_pair(opts(100, 60000, 16), opts(100, 400, 16));
	srv.echo = false;
	cli.echo = false;
	node_conn_pause(cli.conn, true);
	for (uint64_t i = 1; i <= 200; i++)
		assert_ks_ok(send_ack(srv.conn, i));
	run_for(1200); /* three idle timeouts */
	assert_int_equal(cli.closed, 0);
	assert_int_equal(srv.closed, 0);
	assert_int_equal(cli.acks, 0);
	node_conn_pause(cli.conn, false);
	RUN_UNTIL(cli.acks == 200, 3000);
	assert_int_equal(cli.last_seq, 200);
	run_for(600); /* keepalives are read again: no idle timeout */
	assert_int_equal(cli.closed, 0);
	stop_side(&cli);
	stop_side(&srv);
}

/* 1,000 connect/disconnect cycles: no descriptor left behind. */
static void test_cycles_no_leak(void **st)
{
	(void)st;
	start_server(opts(1000, 5000, 16));
	start_client("beta", test_ca_file(ca), opts(1000, 5000, 16));
	int fds0 = test_count_fds();
	int cycles = getenv("KS_NODE_CYCLES") ? atoi(getenv("KS_NODE_CYCLES"))
					      : 1000;
	for (int i = 0; i < cycles; i++) {
		int est = srv.established;
		node_conn_t *c = NULL;
		assert_ks_ok(node_net_dial(cli.net, "alpha.test", "127.0.0.1",
					   node_net_port(srv.net), &cli, &c));
		RUN_UNTIL(srv.established == est + 1 && cli.conn == c, 3000);
		if (i % 2)
			node_conn_close(c, 0, "test cycle");
		else
			node_conn_close(srv.conn, 0, "test cycle");
		RUN_UNTIL(node_net_count(srv.net) == 0 &&
				  node_net_count(cli.net) == 0,
			  3000);
	}
	assert_int_equal(test_count_fds(), fds0);
	assert_int_equal(srv.established, cycles);
	stop_side(&cli);
	stop_side(&srv);
	printf("%d cycles, fds before %d after %d\n", cycles, fds0,
	       test_count_fds());
}

static int setup(void **st)
{
	(void)st;
	ks_log_set_level_all(LOG_INFO);
	/* every refusal's line is checked here; test_log_limit tests limits */
	ks_log_set_limit(0, 60000);
	dir = test_mkdtemp("ks-net");
	ca = test_ca_new(dir, "ca");
	other_ca = test_ca_new(dir, "otherca");
	test_ca_issue(ca, dir, "alpha", "alpha.test", -1, 30);
	test_ca_issue(ca, dir, "beta", "beta.test", -1, 30);
	test_ca_issue(ca, dir, "gamma", "gamma.test", -1, 30);
	test_ca_issue(ca, dir, "expired", "beta.test", -30, -1);
	test_ca_issue(other_ca, dir, "foreign", "beta.test", -1, 30);
	assert_int_equal(uv_loop_init(&loop), 0);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	test_ca_free(ca);
	test_ca_free(other_ca);
	test_rmtree_free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_pair_and_refusals),
		cmocka_unit_test(test_client_side_refusals),
		cmocka_unit_test(test_keepalive_and_idle),
		cmocka_unit_test(test_admission),
		cmocka_unit_test(test_back_pressure),
		cmocka_unit_test(test_owner_pause),
		cmocka_unit_test(test_cycles_no_leak),
	};
	return test_run_group(tests, setup, teardown);
}
