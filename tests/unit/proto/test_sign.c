/* SPDX-License-Identifier: MIT */
/* Ed25519 keys: keygen files and modes, PEM load of private and public keys,
 * refusal of loose permissions, foreign and garbage keys, sign/verify,
 * untrusted ids, trust sets.  Real OpenSSL throughout. */
#define _GNU_SOURCE /* asprintf */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "proto/sign.h"
#include "helpers/test.h"

static char *path_join(const char *dir, const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static void write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_keygen_files(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("proto-sign");
	char *prefix = path_join(dir, "primary");
	char *keyf = path_join(dir, "primary.key");
	char *pubf = path_join(dir, "primary.pub");
	uint8_t id[8];
	struct stat st;

	assert_ks_ok(proto_keygen(prefix, id));
	assert_int_equal(stat(keyf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(pubf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	proto_key_t *priv = NULL, *pub = NULL;
	assert_ks_ok(proto_key_load(keyf, &priv));
	assert_ks_ok(proto_key_load(pubf, &pub));
	assert_true(proto_key_has_private(priv));
	assert_false(proto_key_has_private(pub));
	assert_memory_equal(proto_key_id(priv), id, 8);
	assert_memory_equal(proto_key_id(pub), id, 8);

	/* The PEM labels are the standard ones. */
	FILE *fp = fopen(keyf, "r");
	char line[64] = { 0 };
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	assert_string_equal(line, "-----BEGIN PRIVATE KEY-----\n");
	fp = fopen(pubf, "r");
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	assert_string_equal(line, "-----BEGIN PUBLIC KEY-----\n");

	/* Sign with the private file, verify with the public file. */
	proto_trust_t *t = NULL;
	assert_ks_ok(proto_trust_new(&t));
	assert_ks_ok(proto_trust_add_file(t, pubf));
	uint8_t sig[64];
	const uint8_t msg[] = "kdcsync batch";
	assert_ks_ok(proto_sign(priv, msg, sizeof(msg), sig));
	assert_ks_ok(proto_verify(t, id, msg, sizeof(msg), sig));
	assert_ks_err(proto_sign(pub, msg, sizeof(msg), sig), KS_EKEY);

	/* Never overwrite: a second keygen with the same prefix fails and
	 * leaves the first pair intact. */
	uint8_t id2[8];
	assert_ks_err(proto_keygen(prefix, id2), KS_EEXIST);
	proto_key_t *again = NULL;
	assert_ks_ok(proto_key_load(keyf, &again));
	assert_memory_equal(proto_key_id(again), id, 8);
	proto_key_free(again);
	/* .key free but .pub taken: nothing is left behind. */
	char *prefix2 = path_join(dir, "second");
	char *pub2 = path_join(dir, "second.pub");
	char *key2 = path_join(dir, "second.key");
	write_file(pub2, "taken", 0644);
	assert_ks_err(proto_keygen(prefix2, NULL), KS_EEXIST);
	assert_int_equal(access(key2, F_OK), -1);

	/* Saving a public-only key as private is refused. */
	assert_ks_err(proto_key_save_private(pub, key2), KS_EKEY);
	assert_int_equal(access(key2, F_OK), -1);

	proto_trust_free(t);
	proto_key_free(priv);
	proto_key_free(pub);
	free(prefix2);
	free(pub2);
	free(key2);
	free(prefix);
	free(keyf);
	free(pubf);
	test_rmtree_free(dir);
}

static void test_load_refusals(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("proto-sign");
	char *prefix = path_join(dir, "k");
	char *keyf = path_join(dir, "k.key");
	char *junk = path_join(dir, "junk.pem");
	char *ec = path_join(dir, "ec.pub");
	char *missing = path_join(dir, "missing.pub");
	proto_key_t *k = NULL;

	assert_ks_ok(proto_keygen(prefix, NULL));
	/* A private key readable by others is refused. */
	assert_int_equal(chmod(keyf, 0644), 0);
	assert_ks_err(proto_key_load(keyf, &k), KS_EACCES);
	assert_int_equal(chmod(keyf, 0640), 0);
	assert_ks_err(proto_key_load(keyf, &k), KS_EACCES);
	assert_int_equal(chmod(keyf, 0400), 0);
	assert_ks_ok(proto_key_load(keyf, &k));
	proto_key_free(k);
	k = NULL;

	write_file(
		junk,
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		0644);
	assert_ks_err(proto_key_load(junk, &k), KS_EKEY);
	write_file(junk, "not a key at all", 0644);
	assert_ks_err(proto_key_load(junk, &k), KS_EKEY);
	write_file(
		junk,
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		0600);
	assert_ks_err(proto_key_load(junk, &k), KS_EKEY);
	assert_ks_err(proto_key_load(missing, &k), KS_ENOENT);
	assert_ks_err(proto_key_load(dir, &k), KS_EKEY); /* a directory */

	/* A valid PEM key of another algorithm (P-256). */
	EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(p256);
	FILE *fp = fopen(ec, "w");
	assert_int_equal(PEM_write_PUBKEY(fp, p256), 1);
	fclose(fp);
	EVP_PKEY_free(p256);
	assert_ks_err(proto_key_load(ec, &k), KS_EKEY);
	assert_null(k);

	proto_trust_t *t = NULL;
	assert_ks_ok(proto_trust_new(&t));
	assert_ks_err(proto_trust_add_file(t, ec), KS_EKEY);
	assert_int_equal(proto_trust_count(t), 0);
	proto_trust_free(t);

	free(prefix);
	free(keyf);
	free(junk);
	free(ec);
	free(missing);
	test_rmtree_free(dir);
}

static void test_sign_verify(void **state)
{
	(void)state;
	proto_key_t *a = NULL, *b = NULL, *fixed = NULL, *fixed2 = NULL;
	proto_trust_t *t = NULL;
	uint8_t msg[1000], sig[64];
	uint64_t seed = 99;
	test_fill_random(msg, sizeof(msg), &seed);

	assert_ks_ok(proto_key_generate(&a));
	assert_ks_ok(proto_key_generate(&b));
	assert_memory_not_equal(proto_key_id(a), proto_key_id(b), 8);
	assert_ks_ok(proto_trust_new(&t));
	assert_ks_ok(proto_trust_add(t, a));

	assert_ks_ok(proto_sign(a, msg, sizeof(msg), sig));
	assert_ks_ok(proto_verify(t, proto_key_id(a), msg, sizeof(msg), sig));
	/* Ed25519 is deterministic. */
	uint8_t sig2[64];
	assert_ks_ok(proto_sign(a, msg, sizeof(msg), sig2));
	assert_memory_equal(sig, sig2, 64);
	/* Tampered message, tampered signature, shorter message. */
	msg[500] ^= 1;
	assert_ks_err(proto_verify(t, proto_key_id(a), msg, sizeof(msg), sig),
		      KS_ESIG);
	msg[500] ^= 1;
	sig[63] ^= 0x10;
	assert_ks_err(proto_verify(t, proto_key_id(a), msg, sizeof(msg), sig),
		      KS_ESIG);
	sig[63] ^= 0x10;
	assert_ks_err(
		proto_verify(t, proto_key_id(a), msg, sizeof(msg) - 1, sig),
		KS_ESIG);
	/* Signed by b, which is not trusted. */
	assert_ks_ok(proto_sign(b, msg, sizeof(msg), sig));
	assert_ks_err(proto_verify(t, proto_key_id(b), msg, sizeof(msg), sig),
		      KS_EUNTRUSTED);

	/* Fixed keys from a seed are reproducible (RFC 8032 test 1 seed). */
	static const uint8_t seed1[32] = {
		0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60,
		0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
		0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19,
		0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
	};
	static const uint8_t pub1[32] = {
		0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7,
		0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
		0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25,
		0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
	};
	/* RFC 8032 7.1 test 1: signature of the empty message. */
	static const uint8_t sig1[64] = {
		0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86,
		0xe2, 0xcc, 0x80, 0x6e, 0x82, 0x8a, 0x84, 0x87, 0x7f, 0x1e,
		0xb8, 0xe5, 0xd9, 0x74, 0xd8, 0x73, 0xe0, 0x65, 0x22, 0x49,
		0x01, 0x55, 0x5f, 0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b, 0xac,
		0xc6, 0x1e, 0x39, 0x70, 0x1c, 0xf9, 0xb4, 0x6b, 0xd2, 0x5b,
		0xf5, 0xf0, 0x59, 0x5b, 0xbe, 0x24, 0x65, 0x51, 0x41, 0x43,
		0x8e, 0x7a, 0x10, 0x0b,
	};
	uint8_t raw[32];
	assert_ks_ok(proto_key_from_raw_private(seed1, &fixed));
	proto_key_raw_public(fixed, raw);
	assert_memory_equal(raw, pub1, 32);
	assert_ks_ok(proto_sign(fixed, (const uint8_t *)"", 0, sig));
	assert_memory_equal(sig, sig1, 64);
	assert_ks_ok(proto_key_from_raw(pub1, &fixed2));
	assert_memory_equal(proto_key_id(fixed), proto_key_id(fixed2), 8);
	assert_ks_ok(proto_trust_add(t, fixed2));
	assert_ks_ok(proto_verify(t, proto_key_id(fixed2), (const uint8_t *)"",
				  0, sig1));
	assert_int_equal(proto_trust_count(t), 2);

	proto_trust_free(t);
	proto_key_free(a);
	proto_key_free(b);
	proto_key_free(fixed);
	proto_key_free(fixed2);
	proto_key_free(NULL);
	proto_trust_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keygen_files),
		cmocka_unit_test(test_load_refusals),
		cmocka_unit_test(test_sign_verify),
	};
	return test_run_group(tests, NULL, NULL);
}
