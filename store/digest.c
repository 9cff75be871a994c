/* SPDX-License-Identifier: MIT */
/*
 * Record hashes and digest arithmetic for the store's content digest.
 * The only store file that calls OpenSSL; its errors are logged here and
 * returned as KS_ECRYPTO.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/wire.h"
#include "store/digest.h"

struct dg_ctx {
	EVP_MD *md;
	EVP_MD_CTX *mdctx;
};

static int dg_ossl_err(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	ks_log_err(STORE, "openssl %s failed (%s)", what, buf);
	return KS_ECRYPTO;
}

int dg_ctx_new(dg_ctx_t **out)
{
	int ret = KS_EOK;
	dg_ctx_t *c = calloc(1, sizeof(*c));
	if (!c)
		return KS_ENOMEM;
	c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!c->md) {
		ret = dg_ossl_err("EVP_MD_fetch");
		goto fail;
	}
	c->mdctx = EVP_MD_CTX_new();
	if (!c->mdctx) {
		ret = dg_ossl_err("EVP_MD_CTX_new");
		goto fail;
	}
	*out = c;
	return KS_EOK;
fail:
	dg_ctx_free(c);
	return ret;
}

void dg_ctx_free(dg_ctx_t *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->mdctx);
	EVP_MD_free(c->md);
	free(c);
}

int dg_record_hash(dg_ctx_t *c, ks_view_t key, ks_view_t value, uint8_t out[32])
{
	uint8_t len[4];
	unsigned int olen = 0;
	ks_put_u32be(len, (uint32_t)key.len);
	if (EVP_DigestInit_ex2(c->mdctx, c->md, NULL) != 1 ||
	    EVP_DigestUpdate(c->mdctx, len, sizeof(len)) != 1 ||
	    EVP_DigestUpdate(c->mdctx, key.ptr, key.len) != 1 ||
	    (value.len &&
	     EVP_DigestUpdate(c->mdctx, value.ptr, value.len) != 1) ||
	    EVP_DigestFinal_ex(c->mdctx, out, &olen) != 1 || olen != 32)
		return dg_ossl_err("SHA-256");
	return KS_EOK;
}

int dg_sha256(ks_view_t data, uint8_t out[32])
{
	unsigned int olen = 0;
	if (EVP_Digest(data.ptr, data.len, out, &olen, EVP_sha256(), NULL) !=
		    1 ||
	    olen != 32)
		return dg_ossl_err("SHA-256");
	return KS_EOK;
}

void dg_from_bytes(dg256_t *d, const uint8_t in[32])
{
	for (int i = 0; i < 4; i++)
		d->w[3 - i] = ks_get_u64be(in + 8 * i);
}

void dg_to_bytes(const dg256_t *d, uint8_t out[32])
{
	for (int i = 0; i < 4; i++)
		ks_put_u64be(out + 8 * i, d->w[3 - i]);
}

void dg_add(dg256_t *acc, const dg256_t *x)
{
	uint64_t carry = 0;
	for (int i = 0; i < 4; i++) {
		uint64_t a = acc->w[i];
		uint64_t s = a + x->w[i];
		uint64_t c1 = s < a;
		uint64_t s2 = s + carry;
		uint64_t c2 = s2 < s;
		acc->w[i] = s2;
		carry = c1 | c2;
	}
}

void dg_sub(dg256_t *acc, const dg256_t *x)
{
	uint64_t borrow = 0;
	for (int i = 0; i < 4; i++) {
		uint64_t a = acc->w[i];
		uint64_t d = a - x->w[i];
		uint64_t b1 = a < x->w[i];
		uint64_t d2 = d - borrow;
		uint64_t b2 = d < borrow;
		acc->w[i] = d2;
		borrow = b1 | b2;
	}
}

bool dg_is_zero(const dg256_t *d)
{
	return (d->w[0] | d->w[1] | d->w[2] | d->w[3]) == 0;
}

bool dg_equal(const dg256_t *a, const dg256_t *b)
{
	return memcmp(a->w, b->w, sizeof(a->w)) == 0;
}

uint32_t dg_bucket(ks_view_t key)
{
	/* FNV-1a 64, then the splitmix64 finaliser so the top bits depend on
	 * every key byte; bucket = top 10 bits.  Part of the on-disk format. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < key.len; i++) {
		h ^= key.ptr[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return (uint32_t)(h >> 54);
}
