/* SPDX-License-Identifier: MIT */
/*
 * Test PKI for the node tests, made with the OpenSSL API at run time: CAs
 * and node certificates (EC P-256, SAN dNSName) written as PEM files into a
 * temp directory, including deliberately bad ones (other CA, wrong name,
 * expired).  Keys are written 0600.
 */
#pragma once

#include <stdbool.h>

typedef struct test_ca test_ca_t;

/** \brief Make a self-signed CA and write DIR/NAME.crt. Aborts on failure. */
test_ca_t *test_ca_new(const char *dir, const char *name);

/** \brief Path of the CA certificate file (owned by the CA). */
const char *test_ca_file(const test_ca_t *ca);

/**
 * \brief Issue a certificate for \p dns (SAN and CN) valid from now+nb_days
 *        to now+na_days, written to DIR/FILE.crt and DIR/FILE.key (0600).
 */
void test_ca_issue(test_ca_t *ca, const char *dir, const char *file,
		   const char *dns, long nb_days, long na_days);

void test_ca_free(test_ca_t *ca);
