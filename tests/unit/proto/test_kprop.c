/* SPDX-License-Identifier: MIT */
/*
 * kprop wire pieces and dialogue machines: size encoding (both forms and
 * every malformed length), version frames, kpropd.acl matching as kpropd
 * does it, and a whole client <-> server dialogue over in-memory byte
 * streams split at every point, with tampered, reordered, cut and oversized
 * input.  The Kerberos ops are a transparent stand-in with a chained
 * "cipher state" and sequence numbers so that order and tampering are
 * detected as libkrb5 would detect them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/wire.h"
#include "proto/kprop/kprop.h"
#include "helpers/test.h"

/* ---- size encoding ----------------------------------------------------- */

static void test_size_roundtrip(void **state)
{
	(void)state;
	const uint64_t v[] = { 1,
			       2,
			       452950,
			       UINT32_MAX,
			       (uint64_t)UINT32_MAX + 1,
			       (uint64_t)5 << 30,
			       UINT64_MAX,
			       0 };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t enc[KPROP_SIZE_MAX_LEN];
		size_t n = 0;
		uint64_t got = 99;
		kprop_size_encode(v[i], enc, &n);
		bool small = v[i] >= 1 && v[i] <= UINT32_MAX;
		assert_int_equal(n, small ? 4 : 12);
		if (!small)
			assert_int_equal(ks_get_u32be(enc), 0);
		assert_ks_ok(kprop_size_decode((ks_view_t){ enc, n }, &got));
		assert_true(got == v[i]);
	}
	/* The observed trace: 452950 = 00 06 e9 56. */
	uint8_t enc[KPROP_SIZE_MAX_LEN];
	size_t n;
	kprop_size_encode(452950, enc, &n);
	test_assert_mem_eq(enc, n, "\x00\x06\xe9\x56", 4);
}

static void test_size_malformed(void **state)
{
	(void)state;
	uint8_t b[16] = { 0 };
	uint64_t got;
	for (size_t len = 0; len <= 16; len++) {
		if (len == 4 || len == 12)
			continue;
		assert_ks_err(kprop_size_decode((ks_view_t){ b, len }, &got),
			      KS_EMALF);
	}
	/* 12-byte form with a nonzero first word. */
	memset(b, 0, sizeof(b));
	b[3] = 1;
	b[11] = 0;
	assert_ks_err(kprop_size_decode((ks_view_t){ b, 12 }, &got), KS_EMALF);
	/* 12-byte form of a value that has a 4-byte form. */
	memset(b, 0, sizeof(b));
	b[11] = 7;
	assert_ks_err(kprop_size_decode((ks_view_t){ b, 12 }, &got), KS_EMALF);
	ks_put_u64be(b + 4, UINT32_MAX);
	assert_ks_err(kprop_size_decode((ks_view_t){ b, 12 }, &got), KS_EMALF);
	/* 12-byte zero and 2^32 are fine. */
	memset(b, 0, sizeof(b));
	assert_ks_ok(kprop_size_decode((ks_view_t){ b, 12 }, &got));
	assert_true(got == 0);
	ks_put_u64be(b + 4, (uint64_t)UINT32_MAX + 1);
	assert_ks_ok(kprop_size_decode((ks_view_t){ b, 12 }, &got));
	assert_true(got == (uint64_t)UINT32_MAX + 1);
	/* 4-byte zero decodes to 0 (kpropd accepts it; the load fails). */
	memset(b, 0, 4);
	assert_ks_ok(kprop_size_decode((ks_view_t){ b, 4 }, &got));
	assert_true(got == 0);
}

static ks_view_t sv(const char *s, size_t n)
{
	return (ks_view_t){ (const uint8_t *)s, n };
}

static void test_versions(void **state)
{
	(void)state;
	ks_view_t v1 = sv("KRB5_SENDAUTH_V1.0", 19), v2 = sv("kprop5_01", 10);
	assert_int_equal(kprop_check_versions(v1, v2), KPROP_VERS_OK);
	/* Without the NUL, or with a different string, it is refused. */
	assert_int_equal(kprop_check_versions(sv("KRB5_SENDAUTH_V1.0", 18), v2),
			 KPROP_VERS_BAD_SENDAUTH);
	assert_int_equal(kprop_check_versions(v1, sv("kprop5_01", 9)),
			 KPROP_VERS_BAD_APPL);
	assert_int_equal(kprop_check_versions(v1, sv("kprop5_02", 10)),
			 KPROP_VERS_BAD_APPL);
	/* The sendauth string is checked first. */
	assert_int_equal(kprop_check_versions(sv("", 0), sv("", 0)),
			 KPROP_VERS_BAD_SENDAUTH);
}

/* ---- ACL --------------------------------------------------------------- */

/* Stand-in for krb5_string_to_enctype: two names only. */
static int parse_et(const char *name, int32_t *out, void *arg)
{
	(void)arg;
	if (strcmp(name, "aes256-cts-hmac-sha1-96") == 0 ||
	    strcmp(name, "aes256-cts") == 0) {
		*out = 18;
		return 0;
	}
	if (strcmp(name, "aes128-cts-hmac-sha1-96") == 0) {
		*out = 17;
		return 0;
	}
	return -1;
}

static bool acl(const char *text, const char *client, int32_t et)
{
	return kprop_acl_match(sv(text, strlen(text)), client, et, parse_et,
			       NULL);
}

static void test_acl(void **state)
{
	(void)state;
	const char *c = "host/kdc1.example.com@EXAMPLE.COM";
	assert_true(acl("host/kdc1.example.com@EXAMPLE.COM\n", c, 18));
	assert_true(acl("host/kdc1.example.com@EXAMPLE.COM", c, 18));
	assert_true(acl("x\nhost/kdc1.example.com@EXAMPLE.COM  \n", c, 18));
	assert_true(acl("host/kdc1.example.com@EXAMPLE.COM\r\n", c, 18));
	/* Prefix of a longer name, or a longer client: no. */
	assert_false(acl("host/kdc1.example.com@EXAMPLE.COMX\n", c, 18));
	assert_false(acl("host/kdc1.example.com@EXAMPLE.CO\n", c, 18));
	/* Leading space or comment: never matches. */
	assert_false(acl(" host/kdc1.example.com@EXAMPLE.COM\n", c, 18));
	assert_false(acl("#host/kdc1.example.com@EXAMPLE.COM\n", c, 18));
	/* Enctype: must parse and equal the ticket's. */
	assert_true(
		acl("host/kdc1.example.com@EXAMPLE.COM aes256-cts\n", c, 18));
	assert_true(acl(
		"host/kdc1.example.com@EXAMPLE.COM\taes128-cts-hmac-sha1-96", c,
		17));
	assert_false(
		acl("host/kdc1.example.com@EXAMPLE.COM aes256-cts\n", c, 17));
	assert_false(acl("host/kdc1.example.com@EXAMPLE.COM bogus\n", c, 18));
	/* Trailing space after the enctype makes it unparsable (as kpropd). */
	assert_false(
		acl("host/kdc1.example.com@EXAMPLE.COM aes256-cts \n", c, 18));
	/* A later line may still match. */
	assert_true(acl("host/kdc1.example.com@EXAMPLE.COM bogus\n"
			"host/kdc1.example.com@EXAMPLE.COM\n",
			c, 18));
	/* Empty file, NUL cutting a line. */
	assert_false(acl("", c, 18));
	assert_false(
		kprop_acl_match(sv("host/kdc1\0.example.com@EXAMPLE.COM\n", 35),
				c, 18, parse_et, NULL));
	assert_true(kprop_acl_match(
		sv("host/kdc1.example.com@EXAMPLE.COM\0junk\n", 39), c, 18,
		parse_et, NULL));
	/* No parser: a line with an enctype never matches. */
	assert_false(kprop_acl_match(
		sv("host/kdc1.example.com@EXAMPLE.COM aes256-cts", 44), c, 18,
		NULL, NULL));

	/* fgets pieces of 1023 bytes: a long line is split, and its second
	 * piece is matched on its own, as kpropd does. */
	char *big = malloc(3000);
	assert_non_null(big);
	memset(big, 'a', 1023);
	strcpy(big + 1023, c);
	strcat(big, "\n");
	assert_true(acl(big, c, 18));
	/* The name split across the 1023-byte boundary never matches. */
	memset(big, 'a', 1010);
	strcpy(big + 1010, c);
	strcat(big, "\n");
	assert_false(acl(big, c, 18));
	free(big);
}

/* ---- dialogue ---------------------------------------------------------- */

/*
 * Stand-in Kerberos: messages are TAG || u32 seq || payload (|| state for
 * PRIV).  SAFE checks its seq; PRIV is XORed with a running state byte
 * chained across blocks, so reordering or tampering is detected through
 * the trailing check byte.
 */
typedef struct fake {
	bool server;
	uint32_t my_seq, peer_seq;
	uint8_t send_iv, recv_iv;
	bool iv_ready;
	bool fail_rd_req, deny, fail_mk_safe;
	ks_buf_t sunk;
	int sink_fail_at; /* fail the Nth sink call (1-based); 0 = never */
	int sinks;
	char last_error[200];
} fake_t;

static int f_mk_req(void *ctx, ks_buf_t *out)
{
	fake_t *f = ctx;
	f->my_seq = 1000;
	assert_ks_ok(ks_buf_append(out, "REQ", 3));
	return ks_buf_append_u32(out, f->my_seq);
}

static int f_rd_req(void *ctx, ks_view_t m, ks_buf_t *err)
{
	fake_t *f = ctx;
	if (f->fail_rd_req || m.len != 7 || memcmp(m.ptr, "REQ", 3) != 0) {
		assert_ks_ok(ks_buf_append(err,
					   "\x7e"
					   "bad-req",
					   8));
		return KS_EAUTH;
	}
	f->peer_seq = ks_get_u32be(m.ptr + 3);
	return KS_EOK;
}

static int f_mk_rep(void *ctx, ks_buf_t *out)
{
	fake_t *f = ctx;
	f->my_seq = 5000;
	assert_ks_ok(ks_buf_append(out, "REP", 3));
	return ks_buf_append_u32(out, f->my_seq);
}

static int f_rd_rep(void *ctx, ks_view_t m)
{
	fake_t *f = ctx;
	if (m.len != 7 || memcmp(m.ptr, "REP", 3) != 0)
		return KS_EAUTH;
	f->peer_seq = ks_get_u32be(m.ptr + 3);
	return KS_EOK;
}

static int f_authorize(void *ctx)
{
	fake_t *f = ctx;
	return f->deny ? KS_EACL : KS_EOK;
}

static int f_mk(fake_t *f, char tag, ks_view_t d, ks_buf_t *out)
{
	assert_ks_ok(ks_buf_append_u8(out, (uint8_t)tag));
	assert_ks_ok(ks_buf_append_u32(out, f->my_seq++));
	for (size_t i = 0; i < d.len; i++) {
		uint8_t b = d.ptr[i];
		if (tag == 'P') {
			b ^= f->send_iv;
			f->send_iv = (uint8_t)(f->send_iv * 31 + b + 1);
		}
		assert_ks_ok(ks_buf_append_u8(out, b));
	}
	if (tag == 'P')
		assert_ks_ok(ks_buf_append_u8(out, f->send_iv));
	return KS_EOK;
}

static int f_rd(fake_t *f, char tag, ks_view_t m, ks_buf_t *out)
{
	if (m.len < 5 || m.ptr[0] != (uint8_t)tag)
		return KS_EAUTH;
	if (ks_get_u32be(m.ptr + 1) != f->peer_seq)
		return KS_EAUTH; /* BADORDER */
	size_t n = m.len - 5;
	if (tag == 'P') {
		if (n < 1)
			return KS_EAUTH;
		n--;
	}
	uint8_t iv = f->recv_iv;
	size_t start = out->len;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = m.ptr[5 + i];
		if (tag == 'P') {
			/* injective in iv: a change never washes out */
			uint8_t cb = b;
			b ^= iv;
			iv = (uint8_t)(iv * 31 + cb + 1);
		}
		assert_ks_ok(ks_buf_append_u8(out, b));
	}
	if (tag == 'P' && m.ptr[m.len - 1] != iv) {
		out->len = start;
		return KS_EAUTH; /* integrity */
	}
	if (tag == 'P')
		f->recv_iv = iv;
	f->peer_seq++;
	return KS_EOK;
}

static int f_mk_safe(void *ctx, ks_view_t d, ks_buf_t *out)
{
	fake_t *f = ctx;
	if (f->fail_mk_safe)
		return KS_EKRB5;
	return f_mk(f, 'S', d, out);
}

static int f_rd_safe(void *ctx, ks_view_t m, ks_buf_t *out)
{
	return f_rd(ctx, 'S', m, out);
}

static int f_mk_priv(void *ctx, ks_view_t d, ks_buf_t *out)
{
	fake_t *f = ctx;
	assert_true(f->iv_ready);
	return f_mk(f, 'P', d, out);
}

static int f_rd_priv(void *ctx, ks_view_t m, ks_buf_t *out)
{
	fake_t *f = ctx;
	assert_true(f->iv_ready);
	return f_rd(f, 'P', m, out);
}

static int f_init_iv(void *ctx)
{
	fake_t *f = ctx;
	f->iv_ready = true;
	f->send_iv = f->recv_iv = 0x5a;
	return KS_EOK;
}

static int f_mk_error(void *ctx, int code, const char *text, ks_buf_t *out)
{
	(void)ctx;
	(void)code;
	assert_ks_ok(ks_buf_append_u8(out, 0x7e));
	return ks_buf_append(out, text, strlen(text));
}

static void f_rd_error(void *ctx, ks_view_t m, char *text, size_t len)
{
	fake_t *f = ctx;
	snprintf(text, len, "%.*s", (int)(m.len - 1), (const char *)m.ptr + 1);
	snprintf(f->last_error, sizeof(f->last_error), "%s", text);
}

static int f_sink(void *ctx, ks_view_t d)
{
	fake_t *f = ctx;
	f->sinks++;
	if (f->sink_fail_at && f->sinks == f->sink_fail_at)
		return KS_EMALF;
	return ks_buf_append(&f->sunk, d.ptr, d.len);
}

static const kprop_ops_t fake_ops = {
	.mk_req = f_mk_req,
	.rd_rep = f_rd_rep,
	.rd_req = f_rd_req,
	.mk_rep = f_mk_rep,
	.authorize = f_authorize,
	.mk_safe = f_mk_safe,
	.rd_safe = f_rd_safe,
	.init_ivector = f_init_iv,
	.mk_priv = f_mk_priv,
	.rd_priv = f_rd_priv,
	.mk_error = f_mk_error,
	.rd_error = f_rd_error,
	.sink = f_sink,
};

/* A run of the dialogue, with a chunk size for each direction and an
 * optional byte flip in the client's stream. */
typedef struct run {
	size_t c2s_chunk, s2c_chunk; /* 0 = everything at once */
	size_t split_at;  /* c2s: one split at this offset (0 = none) */
	size_t flip_at;	  /* flip this c2s byte (0 = none) */
	size_t cut_at;	  /* c2s: close after this many bytes */
	size_t c2s_total; /* out: bytes the client produced */
} run_t;

/* Deliver \p b to a feed function in the run's chunking. */
static int deliver_s(kprop_server_t *s, run_t *r, ks_buf_t *b, size_t *sent)
{
	int ret = KS_EOK;
	for (size_t off = 0; off < b->len && ret == KS_EOK;) {
		size_t n = b->len - off;
		if (r->c2s_chunk && n > r->c2s_chunk)
			n = r->c2s_chunk;
		if (r->split_at && *sent<r->split_at && * sent + n> r->split_at)
			n = r->split_at - *sent;
		if (r->cut_at && *sent + n > r->cut_at) {
			if (*sent >= r->cut_at)
				return KS_ECLOSED;
			n = r->cut_at - *sent;
		}
		uint8_t tmp[KPROP_BLOCK_SIZE + 64];
		uint8_t *p = b->data + off;
		if (r->flip_at && r->flip_at >= *sent &&
		    r->flip_at < *sent + n && n <= sizeof(tmp)) {
			memcpy(tmp, p, n);
			tmp[r->flip_at - *sent] ^= 0x01;
			p = tmp;
		} else if (r->flip_at && r->flip_at >= *sent &&
			   r->flip_at < *sent + n) {
			p[r->flip_at - *sent] ^= 0x01;
		}
		ret = kprop_server_input(s, p, n);
		off += n;
		*sent += n;
	}
	ks_buf_reset(b);
	return ret;
}

static int deliver_c(kprop_client_t *c, run_t *r, ks_buf_t *b)
{
	int ret = KS_EOK;
	for (size_t off = 0; off < b->len && ret == KS_EOK;) {
		size_t n = b->len - off;
		if (r->s2c_chunk && n > r->s2c_chunk)
			n = r->s2c_chunk;
		ret = kprop_client_input(c, b->data + off, n);
		off += n;
	}
	ks_buf_reset(b);
	return ret;
}

/*
 * Run a whole push of \p data; the server "loads" at LOAD unless \p
 * load_ok is false.  Returns the client's final error; *srv_err the
 * server's.
 */
static int dialogue(const uint8_t *data, size_t len, run_t *r, fake_t *fc,
		    fake_t *fs, bool load_ok, int *srv_err)
{
	kprop_client_t c;
	kprop_server_t s;
	size_t pos = 0, sent = 0;
	int guard = 0;

	assert_ks_ok(kprop_client_init(&c, &fake_ops, fc, len));
	assert_ks_ok(kprop_server_init(&s, &fake_ops, fs));
	for (;;) {
		assert_true(++guard < 100000);
		if (kprop_client_state(&c) == KPROP_ST_SEND) {
			size_t n = len - pos < KPROP_BLOCK_SIZE
					   ? len - pos
					   : KPROP_BLOCK_SIZE;
			assert_ks_ok(kprop_client_block(
				&c, (ks_view_t){ data + pos, n }));
			pos += n;
		}
		bool moved = kprop_client_out(&c)->len > 0;
		int sr = deliver_s(&s, r, kprop_client_out(&c), &sent);
		if (sr == KS_ECLOSED) {
			/* The connection is cut: both sides see EOF. */
			break;
		}
		if (kprop_server_state(&s) == KPROP_ST_LOAD) {
			if (load_ok)
				assert_ks_ok(kprop_server_ack(&s));
			else
				kprop_server_abort(&s, KS_EKDB, "load failed",
						   false);
		}
		moved |= kprop_server_out(&s)->len > 0;
		deliver_c(&c, r, kprop_server_out(&s));
		enum kprop_state cs = kprop_client_state(&c);
		enum kprop_state ss = kprop_server_state(&s);
		if (cs == KPROP_ST_FAILED || cs == KPROP_ST_DONE) {
			if (kprop_client_out(&c)->len > 0)
				(void)deliver_s(&s, r, kprop_client_out(&c),
						&sent);
			break;
		}
		if (!moved && cs != KPROP_ST_SEND &&
		    (ss == KPROP_ST_FAILED || ss == KPROP_ST_DONE))
			break; /* server closed: the client sees EOF */
		if (!moved && cs != KPROP_ST_SEND)
			break; /* stuck */
	}
	r->c2s_total = sent;
	int ce = kprop_client_state(&c) == KPROP_ST_DONE
			 ? KS_EOK
			 : (kprop_client_error(&c) ? kprop_client_error(&c)
						   : KS_ECLOSED);
	*srv_err = kprop_server_state(&s) == KPROP_ST_DONE
			   ? KS_EOK
			   : (kprop_server_error(&s) ? kprop_server_error(&s)
						     : KS_ECLOSED);
	kprop_client_deinit(&c);
	kprop_server_deinit(&s);
	return ce;
}

static uint8_t *make_data(size_t len, uint64_t seed)
{
	uint8_t *d = malloc(len ? len : 1);
	assert_non_null(d);
	test_fill_random(d, len, &seed);
	return d;
}

static void reset_fakes(fake_t *fc, fake_t *fs)
{
	ks_buf_free(&fc->sunk);
	ks_buf_free(&fs->sunk);
	memset(fc, 0, sizeof(*fc));
	memset(fs, 0, sizeof(*fs));
	fs->server = true;
}

static void test_dialogue_sizes(void **state)
{
	(void)state;
	const size_t sizes[] = { 1,
				 100,
				 KPROP_BLOCK_SIZE - 1,
				 KPROP_BLOCK_SIZE,
				 KPROP_BLOCK_SIZE + 1,
				 3 * KPROP_BLOCK_SIZE + 7 };
	fake_t fc = { 0 }, fs = { 0 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *d = make_data(sizes[i], i + 1);
		run_t r = { 0 };
		int se;
		reset_fakes(&fc, &fs);
		assert_ks_ok(dialogue(d, sizes[i], &r, &fc, &fs, true, &se));
		assert_ks_ok(se);
		test_assert_mem_eq(fs.sunk.data, fs.sunk.len, d, sizes[i]);
		free(d);
	}
	reset_fakes(&fc, &fs);
}

/* Every split point of the client's stream, and byte-at-a-time both
 * ways. */
static void test_dialogue_every_split(void **state)
{
	(void)state;
	const size_t len = 2 * KPROP_BLOCK_SIZE + 300;
	uint8_t *d = make_data(len, 42);
	fake_t fc = { 0 }, fs = { 0 };
	run_t r = { 0 };
	int se;

	reset_fakes(&fc, &fs);
	assert_ks_ok(dialogue(d, len, &r, &fc, &fs, true, &se));
	size_t total = r.c2s_total;
	/* Splits in the handshake and around each block boundary; every
	 * offset in the first 200 bytes and in windows around frame
	 * starts. */
	for (size_t k = 1; k < total; k++) {
		bool near = k < 200 || (k % (KPROP_BLOCK_SIZE + 9)) < 16 ||
			    total - k < 32;
		if (!near && (k % 997) != 0)
			continue;
		r = (run_t){ .split_at = k };
		reset_fakes(&fc, &fs);
		assert_ks_ok(dialogue(d, len, &r, &fc, &fs, true, &se));
		assert_ks_ok(se);
		test_assert_mem_eq(fs.sunk.data, fs.sunk.len, d, len);
	}
	r = (run_t){ .c2s_chunk = 1, .s2c_chunk = 1 };
	reset_fakes(&fc, &fs);
	assert_ks_ok(dialogue(d, len, &r, &fc, &fs, true, &se));
	assert_ks_ok(se);
	test_assert_mem_eq(fs.sunk.data, fs.sunk.len, d, len);
	reset_fakes(&fc, &fs);
	free(d);
}

static void test_dialogue_refusals(void **state)
{
	(void)state;
	const size_t len = KPROP_BLOCK_SIZE + 10;
	uint8_t *d = make_data(len, 7);
	fake_t fc = { 0 }, fs = { 0 };
	run_t r = { 0 };
	int se;

	/* ACL denial: no KRB-ERROR; the client sees the connection close. */
	reset_fakes(&fc, &fs);
	fs.deny = true;
	assert_int_not_equal(dialogue(d, len, &r, &fc, &fs, true, &se), KS_EOK);
	assert_ks_err(se, KS_EACL);
	assert_int_equal(fs.sunk.len, 0);

	/* AP-REQ refused: KRB-ERROR reaches the client. */
	reset_fakes(&fc, &fs);
	fs.fail_rd_req = true;
	assert_ks_err(dialogue(d, len, &r, &fc, &fs, true, &se), KS_EPEER);
	assert_ks_err(se, KS_EAUTH);
	assert_string_equal(fc.last_error, "bad-req");

	/* The load fails: no ack; the client sees EOF. */
	reset_fakes(&fc, &fs);
	assert_int_not_equal(dialogue(d, len, &r, &fc, &fs, false, &se),
			     KS_EOK);
	assert_ks_err(se, KS_EKDB);

	/* Sink refuses a block: KRB-ERROR to the client. */
	reset_fakes(&fc, &fs);
	fs.sink_fail_at = 2;
	assert_ks_err(dialogue(d, len, &r, &fc, &fs, true, &se), KS_EPEER);
	assert_ks_err(se, KS_EMALF);

	/* A flipped byte in each data frame: the server refuses it and
	 * never reaches LOAD. */
	reset_fakes(&fc, &fs);
	assert_ks_ok(dialogue(d, len, &r, &fc, &fs, true, &se));
	size_t total = r.c2s_total;
	for (size_t k = 100; k < total; k += 1013) {
		r = (run_t){ .flip_at = k };
		reset_fakes(&fc, &fs);
		int ce = dialogue(d, len, &r, &fc, &fs, true, &se);
		if (se == KS_EOK)
			fail_msg("flip at %zu of %zu not detected", k, total);
		assert_int_not_equal(se, KS_EOK);
		assert_int_not_equal(ce, KS_EOK);
	}

	/* Cut at every 500th offset: the server never completes. */
	for (size_t k = 1; k < total; k += 500) {
		r = (run_t){ .cut_at = k };
		reset_fakes(&fc, &fs);
		int ce = dialogue(d, len, &r, &fc, &fs, true, &se);
		assert_int_not_equal(se, KS_EOK);
		assert_int_not_equal(ce, KS_EOK);
	}
	reset_fakes(&fc, &fs);
	free(d);
}

/* Hand-built server input: bad versions, oversize frames, too many bytes,
 * trailing data. */
static void test_server_malformed(void **state)
{
	(void)state;
	fake_t fs = { 0 };
	kprop_server_t s;
	ks_buf_t in = KS_BUF_INIT;

	/* Bad sendauth version: reply byte 1, failed. */
	assert_ks_ok(kprop_server_init(&s, &fake_ops, &fs));
	assert_ks_ok(kprop_frame_append(&in, sv("KRB5_SENDAUTH_V1.1", 19)));
	assert_ks_ok(kprop_frame_append(&in, sv("kprop5_01", 10)));
	assert_ks_err(kprop_server_input(&s, in.data, in.len), KS_EVERSION);
	assert_int_equal(kprop_server_out(&s)->len, 1);
	assert_int_equal(kprop_server_out(&s)->data[0], 1);
	assert_ks_err(kprop_server_input(&s, "x", 1), KS_EVERSION); /* sticky */
	kprop_server_deinit(&s);

	/* Bad application version: reply byte 2. */
	ks_buf_reset(&in);
	assert_ks_ok(kprop_server_init(&s, &fake_ops, &fs));
	assert_ks_ok(kprop_frame_append(&in, sv("KRB5_SENDAUTH_V1.0", 19)));
	assert_ks_ok(kprop_frame_append(&in, sv("kprop5_00", 10)));
	assert_ks_err(kprop_server_input(&s, in.data, in.len), KS_EVERSION);
	assert_int_equal(kprop_server_out(&s)->data[0], 2);
	kprop_server_deinit(&s);

	/* Oversized version frame, detected from the prefix. */
	assert_ks_ok(kprop_server_init(&s, &fake_ops, &fs));
	uint8_t big[4];
	ks_put_u32be(big, KPROP_VERSION_MAX + 1);
	assert_ks_err(kprop_server_input(&s, big, 4), KS_ETOOBIG);
	kprop_server_deinit(&s);

	/* Oversized AP-REQ frame. */
	ks_buf_reset(&in);
	assert_ks_ok(kprop_server_init(&s, &fake_ops, &fs));
	assert_ks_ok(kprop_frame_append(&in, sv("KRB5_SENDAUTH_V1.0", 19)));
	assert_ks_ok(kprop_frame_append(&in, sv("kprop5_01", 10)));
	assert_ks_ok(kprop_server_input(&s, in.data, in.len));
	ks_put_u32be(big, KPROP_FRAME_MAX + 1);
	assert_ks_err(kprop_server_input(&s, big, 4), KS_ETOOBIG);
	kprop_server_deinit(&s);

	/* A block carrying more than the announced size; then trailing
	 * data after the last block. */
	for (int variant = 0; variant < 3; variant++) {
		fake_t fc = { 0 };
		memset(&fs, 0, sizeof(fs));
		ks_buf_reset(&in);
		assert_ks_ok(kprop_server_init(&s, &fake_ops, &fs));
		assert_ks_ok(
			kprop_frame_append(&in, sv("KRB5_SENDAUTH_V1.0", 19)));
		assert_ks_ok(kprop_frame_append(&in, sv("kprop5_01", 10)));
		ks_buf_t m = KS_BUF_INIT;
		f_mk_req(&fc, &m);
		assert_ks_ok(kprop_frame_append(&in, ks_buf_view(&m)));
		fc.peer_seq = 5000;
		ks_buf_reset(&m);
		uint8_t enc[12];
		size_t n;
		kprop_size_encode(variant == 2 ? 0 : 10, enc, &n);
		if (variant == 1)
			n = 5; /* malformed size message */
		f_mk_safe(&fc, (ks_view_t){ enc, n }, &m);
		assert_ks_ok(kprop_frame_append(&in, ks_buf_view(&m)));
		f_init_iv(&fc);
		ks_buf_reset(&m);
		f_mk_priv(&fc, sv("0123456789ABCDEF", 16), &m);
		assert_ks_ok(kprop_frame_append(&in, ks_buf_view(&m)));
		int ret = kprop_server_input(&s, in.data, in.len);
		if (variant == 0) {
			assert_ks_err(ret, KS_EKPROP);
			assert_non_null(
				strstr(kprop_server_reason(&s),
				       "Received 16 bytes, expected 10"));
		} else if (variant == 1) {
			assert_ks_err(ret, KS_EMALF);
		} else {
			/* size 0: LOAD at once; the block is trailing. */
			assert_ks_err(ret, KS_ETRAILING);
		}
		assert_int_equal(fs.sunk.len, 0);
		ks_buf_free(&m);
		kprop_server_deinit(&s);
		ks_buf_free(&fs.sunk);
	}
	ks_buf_free(&in);
}

static void test_client_malformed(void **state)
{
	(void)state;
	fake_t fc = { 0 };
	kprop_client_t c;

	/* Reply byte 2 and an unknown byte. */
	for (uint8_t b = 1; b <= 3; b++) {
		assert_ks_ok(kprop_client_init(&c, &fake_ops, &fc, 10));
		assert_int_equal(kprop_client_out(&c)->len, 4 + 19 + 4 + 10);
		int ret = kprop_client_input(&c, &b, 1);
		assert_ks_err(ret, b == 3 ? KS_EKPROP : KS_EVERSION);
		kprop_client_deinit(&c);
	}
	/* A nonzero recvauth status that is not a KRB-ERROR. */
	assert_ks_ok(kprop_client_init(&c, &fake_ops, &fc, 10));
	uint8_t msg[] = { 0, 0, 0, 0, 2, 'x', 'y' };
	assert_ks_err(kprop_client_input(&c, msg, sizeof(msg)), KS_EKPROP);
	kprop_client_deinit(&c);
	/* A block before the data phase; a block beyond the size. */
	assert_ks_ok(kprop_client_init(&c, &fake_ops, &fc, 10));
	assert_ks_err(kprop_client_block(&c, sv("abc", 3)), KS_ESTATE);
	kprop_client_deinit(&c);
	memset(&fc, 0, sizeof(fc));
	assert_ks_ok(kprop_client_init(&c, &fake_ops, &fc, 4));
	uint8_t ok[] = { 0, 0, 0, 0, 0, 0, 0, 0, 7, 'R', 'E', 'P', 0, 0, 0, 9 };
	assert_ks_ok(kprop_client_input(&c, ok, sizeof(ok)));
	assert_int_equal(kprop_client_state(&c), KPROP_ST_SEND);
	assert_ks_err(kprop_client_block(&c, sv("abcde", 5)), KS_ELIMIT);
	kprop_client_deinit(&c);
	/* A wrong size in the ack. */
	memset(&fc, 0, sizeof(fc));
	assert_ks_ok(kprop_client_init(&c, &fake_ops, &fc, 3));
	assert_ks_ok(kprop_client_input(&c, ok, sizeof(ok)));
	assert_ks_ok(kprop_client_block(&c, sv("abc", 3)));
	assert_int_equal(kprop_client_state(&c), KPROP_ST_WAIT);
	fake_t srv = { .my_seq = 9 };
	ks_buf_t m = KS_BUF_INIT, fr = KS_BUF_INIT;
	uint8_t enc[12];
	size_t n;
	kprop_size_encode(4, enc, &n);
	f_mk_safe(&srv, (ks_view_t){ enc, n }, &m);
	assert_ks_ok(kprop_frame_append(&fr, ks_buf_view(&m)));
	assert_ks_err(kprop_client_input(&c, fr.data, fr.len), KS_EKPROP);
	assert_non_null(strstr(kprop_client_reason(&c), "expecting 3"));
	kprop_client_deinit(&c);
	ks_buf_free(&m);
	ks_buf_free(&fr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_roundtrip),
		cmocka_unit_test(test_size_malformed),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_dialogue_sizes),
		cmocka_unit_test(test_dialogue_every_split),
		cmocka_unit_test(test_dialogue_refusals),
		cmocka_unit_test(test_server_malformed),
		cmocka_unit_test(test_client_malformed),
	};
	return test_run_group(tests, NULL, NULL);
}
