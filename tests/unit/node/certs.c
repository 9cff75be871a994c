/* SPDX-License-Identifier: MIT */
/* Test PKI built with the OpenSSL API (see certs.h). */
#define _GNU_SOURCE
#include "certs.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct test_ca {
	EVP_PKEY *key;
	X509 *cert;
	char *file;
};

static void die(const char *what)
{
	fprintf(stderr, "test pki: %s failed\n", what);
	abort();
}

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	if (k == NULL)
		die("EVP_EC_gen");
	return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL || !X509_add_ext(cert, ext, -1))
		die("add extension");
	X509_EXTENSION_free(ext);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
		       EVP_PKEY *ikey, long nb_days, long na_days, bool ca)
{
	static long serial = 1;
	X509 *c = X509_new();
	X509_NAME *name;

	if (c == NULL)
		die("X509_new");
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial++ + getpid());
	X509_gmtime_adj(X509_getm_notBefore(c), nb_days * 86400);
	X509_gmtime_adj(X509_getm_notAfter(c), na_days * 86400);
	X509_set_pubkey(c, key);
	name = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
	if (ca) {
		add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		char san[300];
		snprintf(san, sizeof(san), "DNS:%s", cn);
		add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(c, issuer, NID_subject_alt_name, san);
		add_ext(c, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	if (!X509_sign(c, ikey ? ikey : key, EVP_sha256()))
		die("X509_sign");
	return c;
}

static void write_cert(const char *path, X509 *c)
{
	FILE *f = fopen(path, "w");
	if (f == NULL || !PEM_write_X509(f, c))
		die("write cert");
	fclose(f);
}

static void write_key(const char *path, EVP_PKEY *k)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
		die("write key");
	fclose(f);
}

test_ca_t *test_ca_new(const char *dir, const char *name)
{
	test_ca_t *ca = calloc(1, sizeof(*ca));
	if (ca == NULL)
		die("calloc");
	ca->key = new_key();
	ca->cert = make_cert(ca->key, name, NULL, NULL, -1, 365, true);
	if (asprintf(&ca->file, "%s/%s.crt", dir, name) < 0)
		die("asprintf");
	write_cert(ca->file, ca->cert);
	return ca;
}

const char *test_ca_file(const test_ca_t *ca)
{
	return ca->file;
}

void test_ca_issue(test_ca_t *ca, const char *dir, const char *file,
		   const char *dns, long nb_days, long na_days)
{
	EVP_PKEY *k = new_key();
	X509 *c = make_cert(k, dns, ca->cert, ca->key, nb_days, na_days, false);
	char *p = NULL;

	if (asprintf(&p, "%s/%s.crt", dir, file) < 0)
		die("asprintf");
	write_cert(p, c);
	free(p);
	if (asprintf(&p, "%s/%s.key", dir, file) < 0)
		die("asprintf");
	write_key(p, k);
	free(p);
	X509_free(c);
	EVP_PKEY_free(k);
}

void test_ca_free(test_ca_t *ca)
{
	if (ca == NULL)
		return;
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	free(ca->file);
	free(ca);
}
