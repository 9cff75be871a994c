/* SPDX-License-Identifier: MIT */
/*
 * TLS for node links: an OpenSSL context built from the configuration and one
 * TLS session per connection, driven through memory BIOs by one pump
 * function.  Nothing here knows about sockets or libuv: ciphertext comes in
 * as bytes, leaves through a callback, and plaintext is handed up through
 * another, so the pump can be tested with two sessions back to back.
 *
 * This file pair is the only place in kdcsync that calls OpenSSL's SSL_*
 * I/O functions and translates OpenSSL errors: the detail is logged here
 * (group "tls") and callers get a KS_E* code plus a short reason string.
 *
 * Authentication is always mutual: both sides present a certificate from the
 * configured CA, and each side checks that the peer's certificate names a
 * peer it expects (X509_check_host against the SAN/CN): a client checks the
 * one name it dialled, a server checks the list of configured peers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct node_tls_ctx node_tls_ctx_t;
typedef struct node_tls node_tls_t;

typedef struct node_tls_ctx_opts {
	const char *ca_file;   /* PEM CA bundle; required */
	const char *cert_file; /* PEM certificate chain; NULL only in tests */
	const char *key_file;  /* PEM private key; NULL only in tests */
	/* Names a server accepts from clients (the configured peers). */
	const char *const *peer_names;
	size_t n_peer_names;
	/* If set, our certificate must name it (catches a wrong cert file). */
	const char *own_name;
} node_tls_ctx_opts_t;

/**
 * \brief Build a TLS context (TLS 1.2 minimum, 1.3 preferred, mandatory
 *        peer verification).
 * \param opts borrowed for the call; strings are copied.
 * \param out  set on success to a context with one reference.
 * \return 0, KS_ENOMEM, KS_ECONFVAL (unreadable or mismatching files, logged
 *         with the file name), KS_ETLS.
 */
int node_tls_ctx_new(const node_tls_ctx_opts_t *opts, node_tls_ctx_t **out);

/** \brief Take another reference (sessions hold one each). */
node_tls_ctx_t *node_tls_ctx_attach(node_tls_ctx_t *ctx);

/** \brief Drop a reference; frees on the last one.  NULL is ignored. */
void node_tls_ctx_detach(node_tls_ctx_t *ctx);

/* Session states; the order is significant (code compares with <). */
enum node_tls_state {
	NODE_TLS_HANDSHAKE, /* handshake in progress */
	NODE_TLS_IO,	    /* established, data flows */
	NODE_TLS_CLOSING,   /* our close_notify sent, waiting for the peer's */
	NODE_TLS_CLOSED,    /* both sides closed, or failed */
	NODE_TLS_STATE_COUNT
};

/** \brief Name of a state for logs and status. */
const char *node_tls_state_name(enum node_tls_state s);

/*
 * Callbacks from the pump to the session's owner; all run inside
 * node_tls_pump().  \p arg is node_tls_io_t.arg.
 */
typedef struct node_tls_io {
	void *arg;
	/* Ciphertext to put on the wire (copy it).  Return 0 or KS_E*. */
	int (*send)(void *arg, const uint8_t *p, size_t n);
	/*
	 * Plaintext received (borrowed for the call).  Return 0 to go on,
	 * 1 to pause reading (call node_tls_resume() later), or KS_E* to fail
	 * the session.
	 */
	int (*recv)(void *arg, const uint8_t *p, size_t n);
	/* Handshake complete; \p peer is the verified peer name (borrowed,
	 * valid for the session's life).  Return 0 or KS_E* to fail. */
	int (*established)(void *arg, const char *peer);
} node_tls_io_t;

/**
 * \brief Create a session.
 * \param ctx    attached by the session for its life.
 * \param server true to accept, false to connect.
 * \param expect for a client, the peer name its certificate must carry
 *               (copied); ignored for a server, which accepts any name in
 *               the context's peer list.
 * \param io     copied.
 * \return 0, KS_ENOMEM, KS_ETLS.
 */
int node_tls_new(node_tls_ctx_t *ctx, bool server, const char *expect,
		 const node_tls_io_t *io, node_tls_t **out);

/** \brief Free a session (no close_notify is sent).  NULL is ignored. */
void node_tls_free(node_tls_t *t);

/**
 * \brief The pump: feed received ciphertext (may be NULL/0), advance the
 *        handshake, write queued plaintext, read and deliver plaintext,
 *        handle close_notify, and flush every produced ciphertext byte
 *        through io.send.  A client's first call (with no input) sends its
 *        ClientHello.
 * \return 0 when the session can go on (check node_tls_state() for
 *         NODE_TLS_CLOSED after the peer's close_notify), otherwise a KS_E*
 *         and the session is NODE_TLS_CLOSED: KS_ECERT (peer certificate
 *         not trusted, expired, or the peer rejected ours), KS_EPEERNAME,
 *         KS_ENOCERT, KS_ETLS (protocol error, e.g. not TLS at all),
 *         KS_ECLOSED (pumped after close), or an error from a callback.
 *         node_tls_reason() says what happened in words.
 */
int node_tls_pump(node_tls_t *t, const uint8_t *in, size_t len);

/**
 * \brief Queue plaintext to send (copied); it goes out at the next pump
 *        once the handshake is done.
 * \return 0, KS_ENOMEM, KS_ESTATE after close.
 */
int node_tls_write(node_tls_t *t, const void *p, size_t n);

/** \brief Request an orderly close: queued plaintext first, then
 *         close_notify, at the next pump. */
void node_tls_close(node_tls_t *t);

/** \brief Continue after a recv callback returned 1 (then pump). */
void node_tls_resume(node_tls_t *t);

enum node_tls_state node_tls_state(const node_tls_t *t);

/** \brief Plaintext bytes queued and not yet encrypted. */
size_t node_tls_pending(const node_tls_t *t);

/** \brief Verified peer name, or NULL before the handshake completes. */
const char *node_tls_peer(const node_tls_t *t);

/** \brief Why the session failed ("" if it did not); static for its life. */
const char *node_tls_reason(const node_tls_t *t);

/** \brief Negotiated protocol ("TLSv1.3"), or "" before the handshake. */
const char *node_tls_version(const node_tls_t *t);
