/* SPDX-License-Identifier: MIT */
/*
 * The TLS pump with two sessions wired back to back in memory (no sockets):
 * handshake, data both ways, close_notify, every split point of each flight
 * and of the whole byte stream, and the certificate failures at this level.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certs.h"
#include "common/buf.h"
#include "node/net/tls.h"
#include "helpers/test.h"

static char *dir;
static test_ca_t *ca, *other_ca;

typedef struct end {
	node_tls_t *t;
	ks_buf_t wire;	/* ciphertext produced, not yet delivered */
	ks_buf_t plain; /* plaintext received */
	char peer[64];
	int established;
	int pause; /* recv asks the pump to pause */
} end_t;

static int on_send(void *arg, const uint8_t *p, size_t n)
{
	end_t *e = arg;
	return ks_buf_append(&e->wire, p, n);
}

static int on_recv(void *arg, const uint8_t *p, size_t n)
{
	end_t *e = arg;
	int ret = ks_buf_append(&e->plain, p, n);
	return ret == 0 && e->pause ? 1 : ret;
}

static int on_est(void *arg, const char *peer)
{
	end_t *e = arg;
	snprintf(e->peer, sizeof(e->peer), "%s", peer);
	e->established++;
	return 0;
}

static node_tls_ctx_t *make_ctx(const char *cafile, const char *id,
				const char *const *peers, size_t npeers)
{
	char *crt = NULL, *key = NULL;
	node_tls_ctx_t *ctx = NULL;
	if (id != NULL) {
		if (asprintf(&crt, "%s/%s.crt", dir, id) < 0 ||
		    asprintf(&key, "%s/%s.key", dir, id) < 0)
			abort();
	}
	node_tls_ctx_opts_t o = { .ca_file = cafile,
				  .cert_file = crt,
				  .key_file = key,
				  .peer_names = peers,
				  .n_peer_names = npeers };
	assert_ks_ok(node_tls_ctx_new(&o, &ctx));
	free(crt);
	free(key);
	return ctx;
}

static const char *const server_peers[] = { "beta.test" };

static void open_pair(end_t *c, end_t *s, const char *client_id,
		      const char *client_ca, const char *server_id,
		      const char *expect)
{
	node_tls_ctx_t *cctx = make_ctx(client_ca, client_id, NULL, 0);
	node_tls_ctx_t *sctx =
		make_ctx(test_ca_file(ca), server_id, server_peers, 1);
	memset(c, 0, sizeof(*c));
	memset(s, 0, sizeof(*s));
	node_tls_io_t cio = { c, on_send, on_recv, on_est };
	node_tls_io_t sio = { s, on_send, on_recv, on_est };
	assert_ks_ok(node_tls_new(cctx, false, expect, &cio, &c->t));
	assert_ks_ok(node_tls_new(sctx, true, NULL, &sio, &s->t));
	node_tls_ctx_detach(cctx);
	node_tls_ctx_detach(sctx);
}

static void close_end(end_t *e)
{
	node_tls_free(e->t);
	ks_buf_free(&e->wire);
	ks_buf_free(&e->plain);
}

/*
 * Deliver what \p from produced to \p to, split at \p split (0 = in one
 * piece, SIZE_MAX = one byte at a time).  Returns the pump's result.
 */
static int deliver(end_t *from, end_t *to, size_t split)
{
	ks_buf_t b = from->wire;
	int ret = 0;
	from->wire = KS_BUF_INIT;
	if (b.len == 0) {
		ret = node_tls_pump(to->t, NULL, 0);
	} else if (split == SIZE_MAX) {
		for (size_t i = 0; i < b.len && ret == 0; i++)
			ret = node_tls_pump(to->t, b.data + i, 1);
	} else {
		size_t k = split % b.len;
		ret = node_tls_pump(to->t, b.data, k);
		if (ret == 0)
			ret = node_tls_pump(to->t, b.data + k, b.len - k);
	}
	ks_buf_free(&b);
	return ret;
}

/* Run flights until neither side produces anything; report results. */
static void converse(end_t *c, end_t *s, size_t split, int *cret, int *sret)
{
	*cret = *sret = 0;
	for (int round = 0; round < 50; round++) {
		if (c->wire.len == 0 && s->wire.len == 0)
			break;
		if (c->wire.len > 0 && *sret == 0)
			*sret = deliver(c, s, split);
		else
			ks_buf_reset(&c->wire);
		if (s->wire.len > 0 && *cret == 0)
			*cret = deliver(s, c, split);
		else
			ks_buf_reset(&s->wire);
	}
}

static void handshake(end_t *c, end_t *s, size_t split)
{
	int cr, sr;
	assert_ks_ok(node_tls_pump(c->t, NULL, 0)); /* ClientHello */
	converse(c, s, split, &cr, &sr);
	assert_ks_ok(cr);
	assert_ks_ok(sr);
	assert_int_equal(node_tls_state(c->t), NODE_TLS_IO);
	assert_int_equal(node_tls_state(s->t), NODE_TLS_IO);
	assert_string_equal(c->peer, "alpha.test");
	assert_string_equal(s->peer, "beta.test");
	assert_int_equal(c->established, 1);
	assert_int_equal(s->established, 1);
}

static void exchange(end_t *c, end_t *s, size_t split, size_t size)
{
	uint8_t *a = malloc(size), *b = malloc(size);
	uint64_t seed = 42 + size;
	int cr, sr;
	assert_non_null(a);
	assert_non_null(b);
	test_fill_random(a, size, &seed);
	test_fill_random(b, size, &seed);
	ks_buf_reset(&c->plain);
	ks_buf_reset(&s->plain);
	assert_ks_ok(node_tls_write(c->t, a, size));
	assert_ks_ok(node_tls_write(s->t, b, size));
	assert_ks_ok(node_tls_pump(c->t, NULL, 0));
	assert_ks_ok(node_tls_pump(s->t, NULL, 0));
	converse(c, s, split, &cr, &sr);
	assert_ks_ok(cr);
	assert_ks_ok(sr);
	test_assert_mem_eq(s->plain.data, s->plain.len, a, size);
	test_assert_mem_eq(c->plain.data, c->plain.len, b, size);
	free(a);
	free(b);
}

static void orderly_close(end_t *c, end_t *s, size_t split)
{
	int cr, sr;
	node_tls_close(c->t);
	assert_ks_ok(node_tls_pump(c->t, NULL, 0));
	assert_int_equal(node_tls_state(c->t), NODE_TLS_CLOSING);
	assert_ks_err(node_tls_write(c->t, "x", 1), KS_ESTATE);
	converse(c, s, split, &cr, &sr);
	assert_ks_ok(cr);
	assert_ks_ok(sr);
	assert_int_equal(node_tls_state(s->t), NODE_TLS_CLOSED);
	assert_int_equal(node_tls_state(c->t), NODE_TLS_CLOSED);
	assert_string_equal(node_tls_reason(c->t), "");
	assert_string_equal(node_tls_reason(s->t), "");
}

static void test_full_session(void **st)
{
	(void)st;
	end_t c, s;
	open_pair(&c, &s, "beta", test_ca_file(ca), "alpha", "alpha.test");
	handshake(&c, &s, 0);
	assert_string_equal(node_tls_version(c.t), "TLSv1.3");
	exchange(&c, &s, 0, 1);
	exchange(&c, &s, 0, 100000); /* several records */
	orderly_close(&c, &s, 0);
	close_end(&c);
	close_end(&s);
}

/* Every byte delivered by itself: every split point of the whole stream. */
static void test_byte_at_a_time(void **st)
{
	(void)st;
	end_t c, s;
	open_pair(&c, &s, "beta", test_ca_file(ca), "alpha", "alpha.test");
	handshake(&c, &s, SIZE_MAX);
	exchange(&c, &s, SIZE_MAX, 20000);
	orderly_close(&c, &s, SIZE_MAX);
	close_end(&c);
	close_end(&s);
}

/* Each flight cut in two at position k, for every k up to the longest. */
static void test_every_split_point(void **st)
{
	(void)st;
	size_t longest = 0;
	for (size_t k = 1; k <= longest + 1 || k < 64; k++) {
		end_t c, s;
		open_pair(&c, &s, "beta", test_ca_file(ca), "alpha",
			  "alpha.test");
		assert_ks_ok(node_tls_pump(c.t, NULL, 0));
		/* measure flights of this run to know where to stop */
		if (c.wire.len > longest)
			longest = c.wire.len;
		{
			int cr, sr;
			for (int round = 0; round < 50; round++) {
				if (c.wire.len > longest)
					longest = c.wire.len;
				if (s.wire.len > longest)
					longest = s.wire.len;
				if (c.wire.len == 0 && s.wire.len == 0)
					break;
				cr = sr = 0;
				if (c.wire.len > 0)
					sr = deliver(&c, &s,
						     k < c.wire.len ? k : 0);
				assert_ks_ok(sr);
				if (s.wire.len > longest)
					longest = s.wire.len;
				if (s.wire.len > 0)
					cr = deliver(&s, &c,
						     k < s.wire.len ? k : 0);
				assert_ks_ok(cr);
			}
		}
		assert_int_equal(node_tls_state(c.t), NODE_TLS_IO);
		assert_int_equal(node_tls_state(s.t), NODE_TLS_IO);
		exchange(&c, &s, k, 300);
		orderly_close(&c, &s, k);
		close_end(&c);
		close_end(&s);
		if (k > 20000)
			fail_msg("flights never stopped growing");
	}
	printf("split points covered: 1..%zu\n", longest);
}

/* Owner pauses delivery: nothing more arrives until resumed. */
static void test_pause_resume(void **st)
{
	(void)st;
	end_t c, s;
	open_pair(&c, &s, "beta", test_ca_file(ca), "alpha", "alpha.test");
	handshake(&c, &s, 0);
	for (int i = 0; i < 3; i++) { /* three separate records */
		assert_ks_ok(node_tls_write(s.t, "rec", 3));
		assert_ks_ok(node_tls_pump(s.t, NULL, 0));
	}
	c.pause = 1;
	assert_ks_ok(deliver(&s, &c, 0));
	assert_int_equal(c.plain.len, 3); /* first record, then paused */
	assert_ks_ok(node_tls_pump(c.t, NULL, 0));
	assert_int_equal(c.plain.len, 3);
	c.pause = 0;
	node_tls_resume(c.t);
	assert_ks_ok(node_tls_pump(c.t, NULL, 0));
	assert_int_equal(c.plain.len, 9);
	close_end(&c);
	close_end(&s);
}

static void expect_failure(const char *client_id, const char *client_ca,
			   const char *server_id, const char *expect,
			   int want_client, int want_server,
			   const char *reason_part)
{
	end_t c, s;
	int cr, sr;
	open_pair(&c, &s, client_id, client_ca, server_id, expect);
	assert_ks_ok(node_tls_pump(c.t, NULL, 0));
	converse(&c, &s, 0, &cr, &sr);
	if (want_client != 1)
		assert_ks_err(cr, want_client);
	if (want_server != 1)
		assert_ks_err(sr, want_server);
	const char *r =
		want_server != 1 ? node_tls_reason(s.t) : node_tls_reason(c.t);
	if (strstr(r, reason_part) == NULL)
		fail_msg("reason '%s' lacks '%s'", r, reason_part);
	assert_int_equal(node_tls_state(want_server != 1 ? s.t : c.t),
			 NODE_TLS_CLOSED);
	close_end(&c);
	close_end(&s);
}

static void test_failures(void **st)
{
	(void)st;
	/* client does not trust the server's CA */
	expect_failure("beta", test_ca_file(other_ca), "alpha", "alpha.test",
		       KS_ECERT, 1, "peer certificate rejected");
	/* server presents a certificate for another name */
	expect_failure("beta", test_ca_file(ca), "wrongname", "alpha.test",
		       KS_EPEERNAME, 1, "does not name 'alpha.test'");
	/* client certificate from another CA */
	expect_failure("foreign", test_ca_file(ca), "alpha", "alpha.test", 1,
		       KS_ECERT, "peer certificate rejected");
	/* client certificate for a name the server does not know */
	expect_failure("gamma", test_ca_file(ca), "alpha", "alpha.test", 1,
		       KS_EPEERNAME, "names no configured peer");
	/* expired client certificate */
	expect_failure("expired", test_ca_file(ca), "alpha", "alpha.test", 1,
		       KS_ECERT, "expired");
	/* client without a certificate */
	expect_failure(NULL, test_ca_file(ca), "alpha", "alpha.test", 1,
		       KS_ENOCERT, "no certificate");
}

static void test_garbage(void **st)
{
	(void)st;
	end_t c, s;
	open_pair(&c, &s, "beta", test_ca_file(ca), "alpha", "alpha.test");
	const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_ks_err(node_tls_pump(s.t, (const uint8_t *)http, strlen(http)),
		      KS_ETLS);
	if (strstr(node_tls_reason(s.t), "not a TLS peer") == NULL)
		fail_msg("reason '%s'", node_tls_reason(s.t));
	close_end(&c);
	close_end(&s);

	uint64_t seed = test_seed();
	for (int i = 0; i < 200; i++) {
		uint8_t junk[512];
		size_t n = 1 + test_rand(&seed) % sizeof(junk);
		int ret = 0;
		test_fill_random(junk, n, &seed);
		open_pair(&c, &s, "beta", test_ca_file(ca), "alpha",
			  "alpha.test");
		ret = node_tls_pump(s.t, junk, n);
		/* random bytes are either refused or wait for more */
		if (ret == 0)
			assert_int_equal(node_tls_state(s.t),
					 NODE_TLS_HANDSHAKE);
		else
			assert_ks_err(ret, KS_ETLS);
		close_end(&c);
		close_end(&s);
	}
}

/* Context files that are wrong in themselves are refused up front. */
static void test_ctx_errors(void **st)
{
	(void)st;
	node_tls_ctx_t *ctx = NULL;
	char crt[512], key[512], other_key[512], missing[512];
	snprintf(crt, sizeof(crt), "%s/alpha.crt", dir);
	snprintf(key, sizeof(key), "%s/alpha.key", dir);
	snprintf(other_key, sizeof(other_key), "%s/beta.key", dir);
	snprintf(missing, sizeof(missing), "%s/missing.crt", dir);
	node_tls_ctx_opts_t o = { test_ca_file(ca), crt, key, NULL, 0,
				  "alpha.test" };
	assert_ks_ok(node_tls_ctx_new(&o, &ctx));
	node_tls_ctx_detach(ctx);
	ctx = NULL;
	o.own_name = "beta.test"; /* our certificate names someone else */
	assert_ks_err(node_tls_ctx_new(&o, &ctx), KS_ECONFVAL);
	o.own_name = "alpha.test";
	o.key_file = other_key; /* key of another certificate */
	assert_ks_err(node_tls_ctx_new(&o, &ctx), KS_ECONFVAL);
	o.key_file = key;
	o.ca_file = missing;
	assert_ks_err(node_tls_ctx_new(&o, &ctx), KS_ECONFVAL);
	o.ca_file = test_ca_file(ca);
	o.cert_file = missing;
	assert_ks_err(node_tls_ctx_new(&o, &ctx), KS_ECONFVAL);
	assert_null(ctx);
}

/*
 * A stock OpenSSL client limited to one protocol version against our
 * server: TLS 1.2 is the floor (accepted), TLS 1.1 is refused.
 */
static int raw_client(int version, end_t *s, char *vers, size_t vlen)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	char crt[512], key[512];
	int ret = 0;
	snprintf(crt, sizeof(crt), "%s/beta.crt", dir);
	snprintf(key, sizeof(key), "%s/beta.key", dir);
	assert_non_null(cctx);
	SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION);
	SSL_CTX_set_max_proto_version(cctx, version);
	SSL_CTX_set_security_level(cctx, 0); /* allow the old versions */
	assert_int_equal(
		SSL_CTX_load_verify_locations(cctx, test_ca_file(ca), NULL), 1);
	assert_int_equal(
		SSL_CTX_use_certificate_file(cctx, crt, SSL_FILETYPE_PEM), 1);
	assert_int_equal(
		SSL_CTX_use_PrivateKey_file(cctx, key, SSL_FILETYPE_PEM), 1);
	SSL *c = SSL_new(cctx);
	BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(in, -1);
	SSL_set_bio(c, in, out);
	SSL_set_connect_state(c);
	for (int round = 0; round < 20 && ret == 0; round++) {
		int rc = SSL_do_handshake(c);
		uint8_t buf[16384];
		int n;
		while ((n = BIO_read(out, buf, sizeof(buf))) > 0 && ret == 0)
			ret = node_tls_pump(s->t, buf, (size_t)n);
		if (s->wire.len > 0) {
			BIO_write(in, s->wire.data, (int)s->wire.len);
			ks_buf_reset(&s->wire);
		}
		if (rc == 1 && node_tls_state(s->t) == NODE_TLS_IO)
			break;
	}
	snprintf(vers, vlen, "%s", SSL_get_version(c));
	SSL_free(c);
	SSL_CTX_free(cctx);
	ERR_clear_error();
	return ret;
}

static void test_version_floor(void **st)
{
	(void)st;
	end_t c, s;
	char v[32];
	open_pair(&c, &s, "beta", test_ca_file(ca), "alpha", "alpha.test");
	assert_ks_ok(raw_client(TLS1_2_VERSION, &s, v, sizeof(v)));
	assert_int_equal(node_tls_state(s.t), NODE_TLS_IO);
	assert_string_equal(v, "TLSv1.2");
	assert_string_equal(node_tls_version(s.t), "TLSv1.2");
	assert_string_equal(s.peer, "beta.test");
	close_end(&c);
	close_end(&s);

	open_pair(&c, &s, "beta", test_ca_file(ca), "alpha", "alpha.test");
	assert_ks_err(raw_client(TLS1_1_VERSION, &s, v, sizeof(v)), KS_ETLS);
	assert_int_equal(node_tls_state(s.t), NODE_TLS_CLOSED);
	printf("TLS 1.1 client refused: %s\n", node_tls_reason(s.t));
	close_end(&c);
	close_end(&s);
}

static int setup(void **st)
{
	(void)st;
	dir = test_mkdtemp("ks-tls");
	ca = test_ca_new(dir, "ca");
	other_ca = test_ca_new(dir, "otherca");
	test_ca_issue(ca, dir, "alpha", "alpha.test", -1, 30);
	test_ca_issue(ca, dir, "beta", "beta.test", -1, 30);
	test_ca_issue(ca, dir, "gamma", "gamma.test", -1, 30);
	test_ca_issue(ca, dir, "wrongname", "alpha.wrong", -1, 30);
	test_ca_issue(ca, dir, "expired", "beta.test", -30, -1);
	test_ca_issue(other_ca, dir, "foreign", "beta.test", -1, 30);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	test_ca_free(ca);
	test_ca_free(other_ca);
	test_rmtree_free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_session),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_every_split_point),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_version_floor),
	};
	return test_run_group(tests, setup, teardown);
}
