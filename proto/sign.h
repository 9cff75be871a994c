/* SPDX-License-Identifier: MIT */
/*
 * Ed25519 signing keys, trusted-key sets, sign and verify (PROTOCOL.md §5).
 * proto/sign.c is the only file of the project's proto/ module that calls
 * OpenSSL: it translates OpenSSL failures into KS_E* codes and logs the
 * OpenSSL error queue there.  Key material is never logged.
 *
 * Key files are PEM: the private key as PKCS#8 ("BEGIN PRIVATE KEY"),
 * created with mode 0600; the public key as SubjectPublicKeyInfo ("BEGIN
 * PUBLIC KEY").  A key's id is the first 8 bytes of SHA-256 over its 32-byte
 * raw public key; batch headers carry it so the verifier picks the key.
 *
 * Objects are immutable after creation and may be shared by threads for
 * signing and verifying.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"

typedef struct proto_key proto_key_t;	  /* one Ed25519 key, opaque */
typedef struct proto_trust proto_trust_t; /* set of trusted public keys */

#define PROTO_RAWKEY_LEN 32 /* raw Ed25519 public key */

/** \brief Make a fresh key pair.  \return KS_EOK, KS_ECRYPTO, KS_ENOMEM. */
int proto_key_generate(proto_key_t **out);

/**
 * \brief Load a PEM key file: a private key (then the key can sign and
 *        verify) or a public key (verify only).  Must be Ed25519.
 * \retval KS_EACCES a private key file readable or writable by group/others
 * \retval KS_EKEY not a PEM Ed25519 key (or encrypted)
 * \retval KS_ENOENT, other -errno from open/read
 */
int proto_key_load(const char *path, proto_key_t **out);

/** \brief A public-only key from its 32 raw bytes.  \return KS_EOK, KS_EKEY. */
int proto_key_from_raw(const uint8_t raw[PROTO_RAWKEY_LEN], proto_key_t **out);

/**
 * \brief A signing key from its 32-byte raw private key (RFC 8032 seed).
 *        For tests, fuzz targets and benchmarks that need a fixed key.
 * \return KS_EOK, KS_EKEY.
 */
int proto_key_from_raw_private(const uint8_t seed[PROTO_RAWKEY_LEN],
			       proto_key_t **out);

/**
 * \brief Write the private key (PKCS#8 PEM, mode 0600) to a new file.
 * \retval KS_EEXIST the file exists (never overwritten)
 * \retval KS_EKEY the key has no private part
 */
int proto_key_save_private(const proto_key_t *k, const char *path);

/** \brief Write the public key (PEM, mode 0644) to a new file; KS_EEXIST. */
int proto_key_save_public(const proto_key_t *k, const char *path);

/**
 * \brief `kdcsync keygen -o PREFIX`: make a key pair and write PREFIX.key
 *        (0600) and PREFIX.pub.  Neither file may exist; on failure neither
 *        is left behind.
 * \param key_id if not NULL, receives the new key's id.
 */
int proto_keygen(const char *prefix, uint8_t key_id[PROTO_KEYID_LEN]);

/** \brief The key's id; borrowed, valid while the key is. */
const uint8_t *proto_key_id(const proto_key_t *k);

/** \brief Whether the key can sign. */
bool proto_key_has_private(const proto_key_t *k);

/** \brief The 32 raw public key bytes. */
void proto_key_raw_public(const proto_key_t *k, uint8_t raw[PROTO_RAWKEY_LEN]);

/** \brief Free a key (NULL is fine). */
void proto_key_free(proto_key_t *k);

/**
 * \brief Sign \p len bytes with Ed25519 (pure, no prehash).
 * \return KS_EOK, KS_EKEY (no private part), KS_ECRYPTO.
 */
int proto_sign(const proto_key_t *k, const uint8_t *msg, size_t len,
	       uint8_t sig[PROTO_SIG_LEN]);

/** \brief An empty trust set.  \return KS_EOK, KS_ENOMEM. */
int proto_trust_new(proto_trust_t **out);

/**
 * \brief Trust \p k's public key (the set keeps its own copy; \p k stays the
 *        caller's).  Adding a key already present is a no-op.
 */
int proto_trust_add(proto_trust_t *t, const proto_key_t *k);

/** \brief Load a PEM key file (public or private) and trust its public key. */
int proto_trust_add_file(proto_trust_t *t, const char *path);

/** \brief Whether the set holds the key named \p key_id. */
bool proto_trust_has(const proto_trust_t *t,
		     const uint8_t key_id[PROTO_KEYID_LEN]);

/** \brief Number of keys in the set. */
size_t proto_trust_count(const proto_trust_t *t);

/** \brief Free a trust set (NULL is fine). */
void proto_trust_free(proto_trust_t *t);

/**
 * \brief Verify \p sig over \p len bytes with the trusted key named \p key_id.
 * \retval KS_EUNTRUSTED no trusted key has that id
 * \retval KS_ESIG the signature does not verify
 * \retval KS_ECRYPTO OpenSSL failed otherwise (logged)
 */
int proto_verify(const proto_trust_t *t, const uint8_t key_id[PROTO_KEYID_LEN],
		 const uint8_t *msg, size_t len,
		 const uint8_t sig[PROTO_SIG_LEN]);
