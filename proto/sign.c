/* SPDX-License-Identifier: MIT */
/*
 * Ed25519 keys, trust sets, signing and verification behind sign.h.  The
 * only file in proto/ that calls OpenSSL (libcrypto): every OpenSSL failure
 * is translated to a KS_E* code here and the OpenSSL error queue is logged
 * here.  Private key bytes are held in OpenSSL secure memory while encoded
 * and never logged.
 */
#include "proto/sign.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/errors.h"
#include "common/log.h"

/* PEM key files are small; anything bigger is not a key. */
#define KEY_FILE_MAX (64 * 1024)

struct proto_key {
	EVP_PKEY *pkey;
	bool has_private;
	uint8_t raw[PROTO_RAWKEY_LEN];
	uint8_t id[PROTO_KEYID_LEN];
};

struct proto_trust {
	proto_key_t **keys;
	size_t n, cap;
};

/* Log and clear the OpenSSL error queue; return \p code. */
static int ossl_fail(const char *what, int code)
{
	unsigned long e;
	const char *data = NULL;
	int flags = 0;
	bool any = false;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		char buf[256];
		ERR_error_string_n(e, buf, sizeof(buf));
		ks_log_err(PROTO, "%s: openssl '%s'%s%s", what, buf,
			   (flags & ERR_TXT_STRING) && data ? " " : "",
			   (flags & ERR_TXT_STRING) && data ? data : "");
		any = true;
	}
	if (!any)
		ks_log_err(PROTO, "%s: openssl failed (no error queued)", what);
	return code;
}

/* Wrap an Ed25519 EVP_PKEY (reference transferred) in a proto_key. */
static int wrap_pkey(EVP_PKEY *pkey, bool has_private, proto_key_t **out)
{
	int ret;
	size_t rawlen = PROTO_RAWKEY_LEN;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	proto_key_t *k = NULL;

	if (!EVP_PKEY_is_a(pkey, "ED25519")) {
		ks_log_err(PROTO, "key is not an Ed25519 key");
		ret = KS_EKEY;
		goto fail;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		ret = KS_ENOMEM;
		goto fail;
	}
	if (EVP_PKEY_get_raw_public_key(pkey, k->raw, &rawlen) != 1 ||
	    rawlen != PROTO_RAWKEY_LEN) {
		ret = ossl_fail("reading raw public key", KS_EKEY);
		goto fail;
	}
	if (EVP_Digest(k->raw, sizeof(k->raw), md, &mdlen, EVP_sha256(),
		       NULL) != 1) {
		ret = ossl_fail("hashing public key", KS_ECRYPTO);
		goto fail;
	}
	memcpy(k->id, md, PROTO_KEYID_LEN);
	k->pkey = pkey;
	k->has_private = has_private;
	*out = k;
	return KS_EOK;
fail:
	free(k);
	EVP_PKEY_free(pkey);
	return ret;
}

int proto_key_generate(proto_key_t **out)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL)
		return ossl_fail("generating Ed25519 key", KS_ECRYPTO);
	return wrap_pkey(pkey, true, out);
}

int proto_key_from_raw(const uint8_t raw[PROTO_RAWKEY_LEN], proto_key_t **out)
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
						     raw, PROTO_RAWKEY_LEN);
	if (pkey == NULL)
		return ossl_fail("importing raw public key", KS_EKEY);
	return wrap_pkey(pkey, false, out);
}

int proto_key_from_raw_private(const uint8_t seed[PROTO_RAWKEY_LEN],
			       proto_key_t **out)
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
						      seed, PROTO_RAWKEY_LEN);
	if (pkey == NULL)
		return ossl_fail("importing raw private key", KS_EKEY);
	return wrap_pkey(pkey, true, out);
}

/* Refuse to prompt for a passphrase: encrypted keys are not supported. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Read a whole small file; *data is heap, caller cleanses and frees. */
static int read_small_file(const char *path, uint8_t **data, size_t *len,
			   mode_t *mode)
{
	int ret;
	struct stat st;
	uint8_t *buf = NULL;
	size_t have = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		ret = ks_errno(errno);
		ks_log_err(PROTO, "cannot open key file '%s' (%s)", path,
			   ks_strerror(ret));
		goto fail;
	}
	if (fstat(fd, &st) != 0) {
		ret = ks_errno(errno);
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
		ks_log_err(PROTO, "key file '%s' is not a small regular file",
			   path);
		ret = KS_EKEY;
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		ret = KS_ENOMEM;
		goto fail;
	}
	while (have < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + have, (size_t)st.st_size - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = ks_errno(errno);
			goto fail;
		}
		if (r == 0)
			break;
		have += (size_t)r;
	}
	buf[have] = 0; /* callers may treat the contents as a string */
	close(fd);
	*data = buf;
	*len = have;
	*mode = st.st_mode;
	return KS_EOK;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

int proto_key_load(const char *path, proto_key_t **out)
{
	int ret;
	uint8_t *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	bool is_private;
	mode_t mode = 0;

	ERR_clear_error();
	ret = read_small_file(path, &data, &len, &mode);
	if (ret != KS_EOK)
		return ret;
	/* The PEM label says which kind of key this is; a private key must
	 * not be accessible by anyone but its owner. */
	is_private = strstr((const char *)data, "PRIVATE KEY-----") != NULL;
	if (is_private && (mode & 077) != 0) {
		ks_log_err(
			PROTO,
			"private key file '%s' is accessible by group or others (mode %03o): chmod 600 it",
			path, (unsigned)(mode & 0777));
		ret = KS_EACCES;
		goto fail;
	}
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL) {
		ret = ossl_fail("reading key file", KS_ENOMEM);
		goto fail;
	}
	if (is_private)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	else
		pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	if (pkey == NULL) {
		ks_log_err(PROTO, "key file '%s' holds no usable PEM key",
			   path);
		ret = ossl_fail("parsing PEM key", KS_EKEY);
		goto fail;
	}
	ret = wrap_pkey(pkey, is_private, out);
	pkey = NULL;
	if (ret != KS_EOK)
		ks_log_err(PROTO, "key file '%s' is not usable (%s)", path,
			   ks_strerror(ret));
fail:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	OPENSSL_cleanse(data, len);
	free(data);
	return ret;
}

/* Create \p path exclusively with \p mode and write \p len bytes, synced. */
static int write_new_file(const char *path, mode_t mode, const void *data,
			  size_t len)
{
	int ret;
	size_t done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0) {
		ret = ks_errno(errno);
		ks_log_err(PROTO, "cannot create key file '%s' (%s)", path,
			   ks_strerror(ret));
		return ret;
	}
	/* The umask may only remove bits; make the mode exact for 0600. */
	if (fchmod(fd, mode) != 0) {
		ret = ks_errno(errno);
		goto fail;
	}
	while (done < len) {
		ssize_t w = write(fd, (const uint8_t *)data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = ks_errno(errno);
			goto fail;
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0) {
		ret = ks_errno(errno);
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		ret = ks_errno(errno);
		goto fail;
	}
	return KS_EOK;
fail:
	ks_log_err(PROTO, "cannot write key file '%s' (%s)", path,
		   ks_strerror(ret));
	if (fd >= 0)
		close(fd);
	unlink(path);
	return ret;
}

static int save_pem(const proto_key_t *k, const char *path, bool private)
{
	int ret;
	char *pem = NULL;
	long pemlen;
	BIO *bio = BIO_new(private ? BIO_s_secmem() : BIO_s_mem());

	if (bio == NULL)
		return ossl_fail("allocating PEM buffer", KS_ENOMEM);
	if (private) {
		if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL,
					     NULL) != 1) {
			ret = ossl_fail("encoding private key", KS_ECRYPTO);
			goto out;
		}
	} else if (PEM_write_bio_PUBKEY(bio, k->pkey) != 1) {
		ret = ossl_fail("encoding public key", KS_ECRYPTO);
		goto out;
	}
	pemlen = BIO_get_mem_data(bio, &pem);
	if (pemlen <= 0 || pem == NULL) {
		ret = ossl_fail("encoding key", KS_ECRYPTO);
		goto out;
	}
	ret = write_new_file(path, private ? 0600 : 0644, pem, (size_t)pemlen);
out:
	BIO_free(bio); /* secmem BIOs clear their memory */
	return ret;
}

int proto_key_save_private(const proto_key_t *k, const char *path)
{
	if (!k->has_private) {
		ks_log_err(PROTO, "key has no private part to save");
		return KS_EKEY;
	}
	return save_pem(k, path, true);
}

int proto_key_save_public(const proto_key_t *k, const char *path)
{
	return save_pem(k, path, false);
}

int proto_keygen(const char *prefix, uint8_t key_id[PROTO_KEYID_LEN])
{
	int ret;
	proto_key_t *k = NULL;
	size_t plen = strlen(prefix);
	char *priv = malloc(plen + 5);
	char *pub = malloc(plen + 5);

	if (priv == NULL || pub == NULL) {
		ret = KS_ENOMEM;
		goto out;
	}
	memcpy(priv, prefix, plen);
	memcpy(priv + plen, ".key", 5);
	memcpy(pub, prefix, plen);
	memcpy(pub + plen, ".pub", 5);
	ret = proto_key_generate(&k);
	if (ret != KS_EOK)
		goto out;
	ret = proto_key_save_private(k, priv);
	if (ret != KS_EOK)
		goto out;
	ret = proto_key_save_public(k, pub);
	if (ret != KS_EOK) {
		unlink(priv);
		goto out;
	}
	if (key_id)
		memcpy(key_id, k->id, PROTO_KEYID_LEN);
	ks_log_info(PROTO, "wrote key pair '%s' and '%s'", priv, pub);
out:
	proto_key_free(k);
	free(priv);
	free(pub);
	return ret;
}

const uint8_t *proto_key_id(const proto_key_t *k)
{
	return k->id;
}

bool proto_key_has_private(const proto_key_t *k)
{
	return k->has_private;
}

void proto_key_raw_public(const proto_key_t *k, uint8_t raw[PROTO_RAWKEY_LEN])
{
	memcpy(raw, k->raw, PROTO_RAWKEY_LEN);
}

void proto_key_free(proto_key_t *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

int proto_sign(const proto_key_t *k, const uint8_t *msg, size_t len,
	       uint8_t sig[PROTO_SIG_LEN])
{
	int ret;
	size_t siglen = PROTO_SIG_LEN;
	EVP_MD_CTX *ctx;

	if (!k->has_private)
		return KS_EKEY;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return ossl_fail("signing", KS_ENOMEM);
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1 ||
	    siglen != PROTO_SIG_LEN) {
		ret = ossl_fail("signing", KS_ECRYPTO);
		goto out;
	}
	ret = KS_EOK;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

int proto_trust_new(proto_trust_t **out)
{
	proto_trust_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return KS_ENOMEM;
	*out = t;
	return KS_EOK;
}

int proto_trust_add(proto_trust_t *t, const proto_key_t *k)
{
	int ret;
	proto_key_t *copy = NULL;

	for (size_t i = 0; i < t->n; i++)
		if (memcmp(t->keys[i]->raw, k->raw, PROTO_RAWKEY_LEN) == 0)
			return KS_EOK;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4;
		proto_key_t **p = realloc(t->keys, cap * sizeof(*p));
		if (p == NULL)
			return KS_ENOMEM;
		t->keys = p;
		t->cap = cap;
	}
	ret = proto_key_from_raw(k->raw, &copy);
	if (ret != KS_EOK)
		return ret;
	t->keys[t->n++] = copy;
	return KS_EOK;
}

int proto_trust_add_file(proto_trust_t *t, const char *path)
{
	proto_key_t *k = NULL;
	int ret = proto_key_load(path, &k);
	if (ret != KS_EOK)
		return ret;
	ret = proto_trust_add(t, k);
	proto_key_free(k);
	return ret;
}

bool proto_trust_has(const proto_trust_t *t,
		     const uint8_t key_id[PROTO_KEYID_LEN])
{
	for (size_t i = 0; t != NULL && i < t->n; i++)
		if (memcmp(proto_key_id(t->keys[i]), key_id, PROTO_KEYID_LEN) ==
		    0)
			return true;
	return false;
}

size_t proto_trust_count(const proto_trust_t *t)
{
	return t->n;
}

void proto_trust_free(proto_trust_t *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		proto_key_free(t->keys[i]);
	free(t->keys);
	free(t);
}

int proto_verify(const proto_trust_t *t, const uint8_t key_id[PROTO_KEYID_LEN],
		 const uint8_t *msg, size_t len,
		 const uint8_t sig[PROTO_SIG_LEN])
{
	int ret = KS_EUNTRUSTED;

	/* Ids are 64-bit prefixes: try every trusted key that matches. */
	for (size_t i = 0; i < t->n; i++) {
		const proto_key_t *k = t->keys[i];
		if (memcmp(k->id, key_id, PROTO_KEYID_LEN) != 0)
			continue;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		if (ctx == NULL)
			return ossl_fail("verifying", KS_ENOMEM);
		int r = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey);
		if (r == 1)
			r = EVP_DigestVerify(ctx, sig, PROTO_SIG_LEN, msg, len);
		EVP_MD_CTX_free(ctx);
		if (r == 1)
			return KS_EOK;
		if (r < 0)
			return ossl_fail("verifying", KS_ECRYPTO);
		/* A bad signature queues an error; it is not an OpenSSL fault. */
		ERR_clear_error();
		ret = KS_ESIG;
	}
	if (ret == KS_EUNTRUSTED)
		ks_log_info(
			PROTO,
			"signature by untrusted key id '%02x%02x%02x%02x%02x%02x%02x%02x'",
			key_id[0], key_id[1], key_id[2], key_id[3], key_id[4],
			key_id[5], key_id[6], key_id[7]);
	return ret;
}
