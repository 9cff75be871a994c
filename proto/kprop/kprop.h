/* SPDX-License-Identifier: MIT */
/*
 * The MIT kprop full-propagation protocol (krb5 1.20), as pure code over
 * bytes: no sockets, no krb5.  Everything Kerberos (AP-REQ/AP-REP,
 * KRB-SAFE, KRB-PRIV, KRB-ERROR) is reached through the injected
 * kprop_ops_t, so node/kprop/ supplies libkrb5 and the unit tests supply a
 * transparent stand-in.  Reference: shared/reference/kprop.md §1-2.
 *
 * Wire summary (C = kprop, S = kpropd; "frame" = u32be length + bytes):
 *   C: frame "KRB5_SENDAUTH_V1.0\0", frame "kprop5_01\0"
 *   S: one raw byte 0 (ok) / 1 (bad sendauth version) / 2 (bad appl version)
 *   C: frame AP-REQ            S: frame of length 0 (or a KRB-ERROR), AP-REP
 *   C: frame KRB-SAFE(size)    C: frames KRB-PRIV(block) until size bytes
 *   S: frame KRB-SAFE(size), only after the dump was loaded.
 * A KRB-ERROR (first byte 0x7e) may replace any frame.
 *
 * Machines: kprop_client_t (the kprop side) and kprop_server_t (the kpropd
 * side).  The caller moves bytes: it feeds what it read with *_input(),
 * sends and empties *_out() after every call, and asks *_state().  Input
 * may arrive in any chunking (the machines keep partial frames).  Errors
 * are sticky: after a failure every call returns the same code.
 *
 * Ownership: a machine is caller-owned memory, bracketed by *_init() and
 * *_deinit(); the ops and their ctx are borrowed for the machine's
 * lifetime.  Views handed to ops are valid only during the call.  Not
 * thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define KPROP_PORT	       754u
#define KPROP_BLOCK_SIZE       32768u	  /* plaintext bytes per KRB-PRIV */
#define KPROP_FRAME_MAX	       (1u << 20) /* largest frame we accept */
#define KPROP_VERSION_MAX      256u	  /* largest version-string frame */
#define KPROP_SIZE_MAX_LEN     12u
#define KPROP_SENDAUTH_VERSION "KRB5_SENDAUTH_V1.0" /* sent with its NUL */
#define KPROP_APPL_VERSION     "kprop5_01"	    /* sent with its NUL */
#define KPROP_KRB_ERROR_TAG    0x7eu		    /* [APPLICATION 30] */

/* The sendauth reply byte. */
enum kprop_vers_reply {
	KPROP_VERS_OK = 0,
	KPROP_VERS_BAD_SENDAUTH = 1,
	KPROP_VERS_BAD_APPL = 2,
};

/**
 * \brief Encode a database size as kprop 1.20 does: 4 bytes big-endian for
 *        1 .. 2^32-1, otherwise (0 or >= 4 GiB) 4 zero bytes + u64be.
 * \param len receives 4 or 12.
 */
void kprop_size_encode(uint64_t size, uint8_t out[KPROP_SIZE_MAX_LEN],
		       size_t *len);

/**
 * \brief Decode a size message exactly as kpropd 1.20 accepts it.
 * \retval KS_EMALF  a length other than 4 or 12, nonzero high word in the
 *                   12-byte form, or a 12-byte form of a value in 1..2^32-1
 */
int kprop_size_decode(ks_view_t in, uint64_t *size);

/** \brief Append a u32be length frame around \p payload. */
int kprop_frame_append(ks_buf_t *out, ks_view_t payload);

/** \brief Whether a frame is a KRB-ERROR (what krb5_is_krb_error tests). */
bool kprop_is_krb_error(ks_view_t frame);

/**
 * The reply kpropd (krb5_recvauth) gives to two version frames: the
 * sendauth string is checked first.
 */
enum kprop_vers_reply kprop_check_versions(ks_view_t sendauth, ks_view_t appl);

/* Parse an enctype name (krb5_string_to_enctype); 0 = ok. */
typedef int (*kprop_enctype_parse_cb)(const char *name, int32_t *out,
				      void *arg);

/**
 * \brief kpropd.acl matching exactly as kpropd 1.20 does it: the file is
 *        read in fgets() pieces of at most 1023 bytes (a longer line is
 *        several pieces), each cut at its first NUL and stripped of one
 *        trailing '\n'.  A piece matches if it starts with \p client,
 *        followed by end or whitespace; then, after whitespace, either
 *        nothing, or an enctype name (the rest of the piece) that parses
 *        and equals \p ticket_enctype.  No comments, no wildcards.
 * \param acl  the file's bytes (an unreadable file: deny, don't call).
 * \param client  the unparsed client principal name (NUL-terminated).
 */
bool kprop_acl_match(ks_view_t acl, const char *client, int32_t ticket_enctype,
		     kprop_enctype_parse_cb parse, void *arg);

/*
 * The Kerberos operations a machine needs.  Each returns 0 or a negative
 * KS_E* code (the implementation logs the library detail).  Appending ops
 * append to \p out; reading ops append the plaintext to \p out.
 */
typedef struct kprop_ops {
	/* client: build the AP-REQ (mutual required, sequence numbers on) */
	int (*mk_req)(void *ctx, ks_buf_t *out);
	/* client: verify the AP-REP, adopting the peer's sequence number */
	int (*rd_rep)(void *ctx, ks_view_t ap_rep);
	/* server: verify the AP-REQ; on failure may append a KRB-ERROR to
	 * \p err_out, which is then sent */
	int (*rd_req)(void *ctx, ks_view_t ap_req, ks_buf_t *err_out);
	/* server: build the AP-REP */
	int (*mk_rep)(void *ctx, ks_buf_t *out);
	/* server: is the authenticated client allowed?  KS_EACL if not */
	int (*authorize)(void *ctx);
	int (*mk_safe)(void *ctx, ks_view_t data, ks_buf_t *out);
	int (*rd_safe)(void *ctx, ks_view_t msg, ks_buf_t *out);
	/* both: start the KRB-PRIV cipher-state chain */
	int (*init_ivector)(void *ctx);
	int (*mk_priv)(void *ctx, ks_view_t data, ks_buf_t *out);
	int (*rd_priv)(void *ctx, ks_view_t msg, ks_buf_t *out);
	/* build a KRB-ERROR carrying \p code and \p text (may be NULL: then
	 * nothing is sent on local failures) */
	int (*mk_error)(void *ctx, int code, const char *text, ks_buf_t *out);
	/* describe a received KRB-ERROR into \p text (may be NULL) */
	void (*rd_error)(void *ctx, ks_view_t msg, char *text, size_t len);
	/* server: one block of received plaintext, in order */
	int (*sink)(void *ctx, ks_view_t data);
} kprop_ops_t;

enum kprop_state {
	KPROP_ST_WAIT = 1, /* waiting for input */
	KPROP_ST_SEND,	   /* client: feed blocks with kprop_client_block() */
	KPROP_ST_LOAD,	   /* server: all bytes in; load, then _ack() */
	KPROP_ST_DONE,	   /* finished successfully */
	KPROP_ST_FAILED,   /* see _error() and _reason() */
};

typedef struct kprop_client {
	/* private */
	const kprop_ops_t *ops;
	void *ctx;
	int step;
	int err;
	uint64_t size, sent;
	ks_buf_t in;
	size_t in_off;
	ks_buf_t out;
	ks_buf_t tmp;
	char reason[256];
} kprop_client_t;

/**
 * \brief Start a push of \p size bytes: the version frames are queued.
 */
int kprop_client_init(kprop_client_t *c, const kprop_ops_t *ops, void *ctx,
		      uint64_t size);
void kprop_client_deinit(kprop_client_t *c);

/** \brief Consume bytes read from the server. */
int kprop_client_input(kprop_client_t *c, const void *data, size_t len);

/**
 * \brief In KPROP_ST_SEND: seal the next 1..KPROP_BLOCK_SIZE plaintext
 *        bytes.  After the last byte of \p size the state is WAIT (ack).
 * \retval KS_ELIMIT  more than the announced size, or an oversized block
 */
int kprop_client_block(kprop_client_t *c, ks_view_t data);

/**
 * \brief The client gives up (its dump source failed): queues a KRB-ERROR
 *        with \p text (if mk_error is set) and fails with \p code.
 */
int kprop_client_abort(kprop_client_t *c, int code, const char *text);

/** \brief Bytes to send now; the caller sends and resets them. */
ks_buf_t *kprop_client_out(kprop_client_t *c);
enum kprop_state kprop_client_state(const kprop_client_t *c);
int kprop_client_error(const kprop_client_t *c);
/** \brief A one-line reason for the failure ("" if none). */
const char *kprop_client_reason(const kprop_client_t *c);

typedef struct kprop_server {
	/* private */
	const kprop_ops_t *ops;
	void *ctx;
	int step;
	int err;
	uint64_t size, received;
	ks_buf_t in;
	size_t in_off;
	ks_buf_t out;
	ks_buf_t tmp;
	char reason[256];
} kprop_server_t;

int kprop_server_init(kprop_server_t *s, const kprop_ops_t *ops, void *ctx);
void kprop_server_deinit(kprop_server_t *s);

/**
 * \brief Consume bytes read from the client; plaintext goes to ops->sink.
 *        Input after the last block (state LOAD) is KS_ETRAILING.
 */
int kprop_server_input(kprop_server_t *s, const void *data, size_t len);

/** \brief In KPROP_ST_LOAD: the dump is loaded: queue the ack -> DONE. */
int kprop_server_ack(kprop_server_t *s);

/**
 * \brief The server gives up (a load or sink failure): queues a KRB-ERROR
 *        when \p send_error and mk_error is set, and fails with \p code.
 */
int kprop_server_abort(kprop_server_t *s, int code, const char *text,
		       bool send_error);

ks_buf_t *kprop_server_out(kprop_server_t *s);
enum kprop_state kprop_server_state(const kprop_server_t *s);
int kprop_server_error(const kprop_server_t *s);
const char *kprop_server_reason(const kprop_server_t *s);
/** \brief The size the client announced (valid from state LOAD on; 0
 *         before). */
uint64_t kprop_server_size(const kprop_server_t *s);
