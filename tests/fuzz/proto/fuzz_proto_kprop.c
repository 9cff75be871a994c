/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the kprop pieces that parse untrusted bytes: the
 * database-size message decoder, kpropd.acl matching and the server
 * machine's framing (with transparent stand-in Kerberos ops).  Byte 0
 * selects the part; the rest is the input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "proto/kprop/kprop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse_et(const char *name, int32_t *out, void *arg)
{
	(void)arg;
	if (strcmp(name, "aes256-cts") == 0) {
		*out = 18;
		return 0;
	}
	return -1;
}

static int ok_req(void *ctx, ks_view_t m, ks_buf_t *err)
{
	(void)ctx;
	(void)err;
	return m.len > 0 && m.ptr[0] == 'R' ? KS_EOK : KS_EAUTH;
}

static int ok_rep(void *ctx, ks_buf_t *out)
{
	(void)ctx;
	return ks_buf_append(out, "REP", 3);
}

static int ok_auth(void *ctx)
{
	(void)ctx;
	return KS_EOK;
}

/* Unwrap: the first byte must be the tag; the rest is the plaintext. */
static int unwrap(ks_view_t m, uint8_t tag, ks_buf_t *out)
{
	if (m.len < 1 || m.ptr[0] != tag)
		return KS_EAUTH;
	return ks_buf_append(out, m.ptr + 1, m.len - 1);
}

static int rd_safe(void *ctx, ks_view_t m, ks_buf_t *out)
{
	(void)ctx;
	return unwrap(m, 0x74, out);
}

static int rd_priv(void *ctx, ks_view_t m, ks_buf_t *out)
{
	(void)ctx;
	return unwrap(m, 0x75, out);
}

static int mk_safe(void *ctx, ks_view_t d, ks_buf_t *out)
{
	(void)ctx;
	int ret = ks_buf_append_u8(out, 0x74);
	return ret ? ret : ks_buf_append(out, d.ptr, d.len);
}

static int init_iv(void *ctx)
{
	(void)ctx;
	return KS_EOK;
}

static int sink(void *ctx, ks_view_t d)
{
	uint64_t *n = ctx;
	*n += d.len;
	return KS_EOK;
}

static const kprop_ops_t ops = {
	.rd_req = ok_req,
	.mk_rep = ok_rep,
	.authorize = ok_auth,
	.mk_safe = mk_safe,
	.rd_safe = rd_safe,
	.init_ivector = init_iv,
	.rd_priv = rd_priv,
	.sink = sink,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	ks_view_t in = { data + 1, size - 1 };

	if (sel % 3 == 0) {
		uint64_t v;
		if (kprop_size_decode(in, &v) == KS_EOK) {
			uint8_t enc[KPROP_SIZE_MAX_LEN];
			size_t n;
			kprop_size_encode(v, enc, &n);
			/* A decoded size re-encodes to the same bytes, except
			 * the 4-byte zero (accepted as kpropd does; encoded
			 * in the 12-byte form). */
			bool zero4 = in.len == 4 && v == 0;
			if (!zero4 &&
			    (n != in.len || memcmp(enc, in.ptr, n) != 0))
				abort();
		}
	} else if (sel % 3 == 1) {
		(void)kprop_acl_match(in, "host/kdc1.example.com@EXAMPLE.COM",
				      18, parse_et, NULL);
		(void)kprop_acl_match(in, "", 18, parse_et, NULL);
	} else {
		kprop_server_t s;
		uint64_t got = 0;
		if (kprop_server_init(&s, &ops, &got) != KS_EOK)
			return 0;
		/* Feed in two pieces split by the selector byte. */
		size_t cut = in.len ? (size_t)(sel >> 2) % (in.len + 1) : 0;
		int ret = kprop_server_input(&s, in.ptr, cut);
		if (ret == KS_EOK)
			ret = kprop_server_input(&s, in.ptr + cut,
						 in.len - cut);
		if (kprop_server_state(&s) == KPROP_ST_LOAD) {
			if (got != kprop_server_size(&s))
				abort();
			(void)kprop_server_ack(&s);
		}
		kprop_server_deinit(&s);
	}
	return 0;
}
