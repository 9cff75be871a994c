/* SPDX-License-Identifier: MIT */
/*
 * TLS contexts and the memory-BIO pump (see tls.h).  The only file that calls
 * SSL_* I/O and translates OpenSSL errors into KS_E* codes.
 */
#include "node/net/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"

struct node_tls_ctx {
	SSL_CTX *ssl_ctx;
	char **peer_names; /* owned; accepted by a server */
	size_t n_peer_names;
	int refs;
};

struct node_tls {
	node_tls_ctx_t *ctx; /* attached */
	SSL *ssl;
	BIO *in;  /* ciphertext from the peer; owned by ssl */
	BIO *out; /* ciphertext to the peer; owned by ssl */
	node_tls_io_t io;
	enum node_tls_state state;
	bool server;
	bool paused;
	bool want_close;
	char *expect;	 /* client: name the server must carry */
	char *peer;	 /* verified peer name */
	ks_buf_t wqueue; /* plaintext waiting for SSL_write */
	char reason[200];
};

static const char *const state_names[NODE_TLS_STATE_COUNT] = {
	[NODE_TLS_HANDSHAKE] = "handshake",
	[NODE_TLS_IO] = "established",
	[NODE_TLS_CLOSING] = "closing",
	[NODE_TLS_CLOSED] = "closed",
};

const char *node_tls_state_name(enum node_tls_state s)
{
	return (unsigned)s < NODE_TLS_STATE_COUNT ? state_names[s] : "?";
}

/* Log the whole OpenSSL error queue at debug level and empty it. */
static void log_err_queue(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		ks_log_debug(TLS, "%s: %s", what, buf);
	}
}

static int ssl_ex_index = -1;

/*
 * Verification callback: chain errors come from OpenSSL; at depth 0 we add
 * the peer-name check, so a wrong name fails the handshake with a proper
 * alert and X509_V_ERR_HOSTNAME_MISMATCH as the verify result.
 */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl;
	node_tls_t *t;
	X509 *cert;

	if (!ok || X509_STORE_CTX_get_error_depth(xs) != 0)
		return ok;
	ssl = X509_STORE_CTX_get_ex_data(xs,
					 SSL_get_ex_data_X509_STORE_CTX_idx());
	t = ssl ? SSL_get_ex_data(ssl, ssl_ex_index) : NULL;
	cert = X509_STORE_CTX_get_current_cert(xs);
	if (t == NULL || cert == NULL)
		return 0;
	if (!t->server) {
		if (X509_check_host(cert, t->expect, 0,
				    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
				    NULL) == 1) {
			free(t->peer);
			t->peer = strdup(t->expect);
			return t->peer != NULL;
		}
	} else {
		for (size_t i = 0; i < t->ctx->n_peer_names; i++) {
			const char *name = t->ctx->peer_names[i];
			if (X509_check_host(
				    cert, name, 0,
				    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
				    NULL) == 1) {
				free(t->peer);
				t->peer = strdup(name);
				return t->peer != NULL;
			}
		}
	}
	X509_STORE_CTX_set_error(xs, X509_V_ERR_HOSTNAME_MISMATCH);
	return 0;
}

static void ctx_free(node_tls_ctx_t *c)
{
	if (c == NULL)
		return;
	SSL_CTX_free(c->ssl_ctx);
	for (size_t i = 0; i < c->n_peer_names; i++)
		free(c->peer_names[i]);
	free(c->peer_names);
	free(c);
}

int node_tls_ctx_new(const node_tls_ctx_opts_t *opts, node_tls_ctx_t **out)
{
	node_tls_ctx_t *c = NULL;
	int ret = KS_ENOMEM;

	if (ssl_ex_index < 0) {
		ssl_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		if (ssl_ex_index < 0)
			return KS_ETLS;
	}
	ERR_clear_error();
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->refs = 1;
	c->ssl_ctx = SSL_CTX_new(TLS_method());
	if (c->ssl_ctx == NULL)
		goto fail_tls;
	if (!SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION))
		goto fail_tls;
	/* No resumption: every connection authenticates in full. */
	SSL_CTX_set_session_cache_mode(c->ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(c->ssl_ctx,
			    SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
				    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_num_tickets(c->ssl_ctx, 0);
	/* TLS 1.2 fallback: forward-secret AEAD suites only. */
	if (!SSL_CTX_set_cipher_list(c->ssl_ctx,
				     "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"))
		goto fail_tls;
	SSL_CTX_set_verify(c->ssl_ctx,
			   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   verify_cb);
	SSL_CTX_set_verify_depth(c->ssl_ctx, 4);
	ret = KS_ECONFVAL;
	if (opts->ca_file == NULL ||
	    SSL_CTX_load_verify_locations(c->ssl_ctx, opts->ca_file, NULL) !=
		    1) {
		ks_log_err(TLS, "cannot load CA file '%s'",
			   opts->ca_file ? opts->ca_file : "(none)");
		goto fail_log;
	}
	if (opts->cert_file != NULL &&
	    SSL_CTX_use_certificate_chain_file(c->ssl_ctx, opts->cert_file) !=
		    1) {
		ks_log_err(TLS, "cannot load certificate file '%s'",
			   opts->cert_file);
		goto fail_log;
	}
	if (opts->key_file != NULL &&
	    SSL_CTX_use_PrivateKey_file(c->ssl_ctx, opts->key_file,
					SSL_FILETYPE_PEM) != 1) {
		ks_log_err(TLS, "cannot load private key file '%s'",
			   opts->key_file);
		goto fail_log;
	}
	if (opts->cert_file != NULL && opts->key_file != NULL &&
	    SSL_CTX_check_private_key(c->ssl_ctx) != 1) {
		ks_log_err(TLS,
			   "private key '%s' does not match certificate '%s'",
			   opts->key_file, opts->cert_file);
		goto fail_log;
	}
	if (opts->own_name != NULL && opts->cert_file != NULL &&
	    X509_check_host(SSL_CTX_get0_certificate(c->ssl_ctx),
			    opts->own_name, 0,
			    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1) {
		ks_log_err(TLS, "certificate '%s' does not name this node '%s'",
			   opts->cert_file, opts->own_name);
		goto fail_log;
	}
	ret = KS_ENOMEM;
	if (opts->n_peer_names > 0) {
		c->peer_names = calloc(opts->n_peer_names, sizeof(char *));
		if (c->peer_names == NULL)
			goto fail;
		for (size_t i = 0; i < opts->n_peer_names; i++) {
			c->peer_names[i] = strdup(opts->peer_names[i]);
			if (c->peer_names[i] == NULL)
				goto fail;
			c->n_peer_names = i + 1;
		}
	}
	*out = c;
	return KS_EOK;
fail_tls:
	ret = KS_ETLS;
fail_log:
	log_err_queue("context setup");
fail:
	ERR_clear_error();
	ctx_free(c);
	return ret;
}

node_tls_ctx_t *node_tls_ctx_attach(node_tls_ctx_t *ctx)
{
	ctx->refs++;
	return ctx;
}

void node_tls_ctx_detach(node_tls_ctx_t *ctx)
{
	if (ctx != NULL && --ctx->refs == 0)
		ctx_free(ctx);
}

int node_tls_new(node_tls_ctx_t *ctx, bool server, const char *expect,
		 const node_tls_io_t *io, node_tls_t **out)
{
	node_tls_t *t = calloc(1, sizeof(*t));
	int ret = KS_ENOMEM;

	if (t == NULL)
		return KS_ENOMEM;
	t->io = *io;
	t->server = server;
	t->state = NODE_TLS_HANDSHAKE;
	if (!server) {
		t->expect = strdup(expect ? expect : "");
		if (t->expect == NULL)
			goto fail;
	}
	ERR_clear_error();
	ret = KS_ETLS;
	t->ssl = SSL_new(ctx->ssl_ctx);
	if (t->ssl == NULL)
		goto fail;
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	if (t->in == NULL || t->out == NULL) {
		BIO_free(t->in);
		BIO_free(t->out);
		goto fail;
	}
	/* An empty input BIO means "no data yet", not end of stream. */
	BIO_set_mem_eof_return(t->in, -1);
	BIO_set_mem_eof_return(t->out, -1);
	SSL_set_bio(t->ssl, t->in, t->out);
	SSL_set_ex_data(t->ssl, ssl_ex_index, t);
	if (server)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	t->ctx = node_tls_ctx_attach(ctx);
	*out = t;
	return KS_EOK;
fail:
	log_err_queue("session setup");
	SSL_free(t->ssl);
	free(t->expect);
	free(t);
	return ret;
}

void node_tls_free(node_tls_t *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl); /* frees both BIOs */
	node_tls_ctx_detach(t->ctx);
	ks_buf_free(&t->wqueue);
	free(t->expect);
	free(t->peer);
	free(t);
}

/* Record why the session failed; the first reason wins. */
static int fail(node_tls_t *t, int code, const char *fmt, const char *detail)
	__attribute__((format(printf, 3, 0)));
static int fail(node_tls_t *t, int code, const char *fmt, const char *detail)
{
	if (t->reason[0] == '\0')
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(t->reason, sizeof(t->reason), fmt, detail);
#pragma GCC diagnostic pop
	t->state = NODE_TLS_CLOSED;
	return code;
}

/*
 * Translate a failed SSL_* call: the one place OpenSSL error codes become
 * KS_E* codes.  Returns 0 for the "wait for more data" cases.
 */
static int translate(node_tls_t *t, int rc)
{
	int e = SSL_get_error(t->ssl, rc);
	unsigned long qe;
	long vr;
	int lib, reason;
	const char *rs;

	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return KS_EOK;
	case SSL_ERROR_ZERO_RETURN:
		/* handled by the caller; not a failure */
		return KS_EOK;
	case SSL_ERROR_SYSCALL:
		log_err_queue("syscall");
		return fail(t, KS_ETLS, "%s", "unexpected end of TLS stream");
	case SSL_ERROR_SSL:
		break;
	default:
		log_err_queue("unexpected");
		return fail(t, KS_ETLS, "%s", "unexpected TLS library state");
	}
	vr = SSL_get_verify_result(t->ssl);
	qe = ERR_peek_last_error();
	lib = ERR_GET_LIB(qe);
	reason = ERR_GET_REASON(qe);
	rs = ERR_reason_error_string(qe);
	log_err_queue(t->server ? "accept" : "connect");
	if (vr != X509_V_OK) {
		const char *vs = X509_verify_cert_error_string(vr);
		if (vr == X509_V_ERR_HOSTNAME_MISMATCH)
			return t->server
				       ? fail(t, KS_EPEERNAME, "%s",
					      "peer certificate names no configured peer")
				       : fail(t, KS_EPEERNAME,
					      "peer certificate does not name '%s'",
					      t->expect);
		return fail(t, KS_ECERT, "peer certificate rejected: %s", vs);
	}
	if (lib == ERR_LIB_SSL) {
		switch (reason) {
		case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
			return fail(t, KS_ENOCERT, "%s",
				    "peer presented no certificate");
		case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
			return fail(t, KS_ENOCERT, "%s",
				    "peer requires a certificate we lack");
		case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
		case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
		case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
		case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
			return fail(t, KS_ECERT,
				    "peer rejected our certificate (%s)",
				    rs ? rs : "alert");
		case SSL_R_WRONG_VERSION_NUMBER:
		case SSL_R_HTTP_REQUEST:
		case SSL_R_HTTPS_PROXY_REQUEST:
		case SSL_R_PACKET_LENGTH_TOO_LONG:
		case SSL_R_RECORD_LENGTH_MISMATCH:
		case SSL_R_UNKNOWN_PROTOCOL:
			return fail(t, KS_ETLS, "not a TLS peer (%s)",
				    rs ? rs : "bad record");
		default:
			break;
		}
	}
	return fail(t, KS_ETLS, "TLS protocol error (%s)", rs ? rs : "unknown");
}

/* Move every ciphertext byte the session produced to io.send. */
static int flush(node_tls_t *t)
{
	uint8_t buf[16384];
	size_t n;
	int ret;

	while (BIO_ctrl_pending(t->out) > 0) {
		if (BIO_read_ex(t->out, buf, sizeof(buf), &n) != 1 || n == 0)
			return fail(t, KS_ETLS, "%s", "output buffer error");
		ret = t->io.send(t->io.arg, buf, n);
		if (ret != KS_EOK)
			return fail(t, ret, "send failed (%s)",
				    ks_strerror(ret));
	}
	return KS_EOK;
}

/* Peer's close_notify seen: answer with ours unless already sent. */
static void peer_closed(node_tls_t *t)
{
	if (!(SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN))
		SSL_shutdown(t->ssl);
	t->state = NODE_TLS_CLOSED;
}

/* Write queued plaintext; returns 0 or KS_E*. */
static int drain_writes(node_tls_t *t)
{
	size_t done;
	int rc;

	while (t->wqueue.len > 0 && t->state == NODE_TLS_IO) {
		rc = SSL_write_ex(t->ssl, t->wqueue.data, t->wqueue.len, &done);
		if (rc != 1)
			return translate(t, rc);
		/* Without partial writes, a success writes everything. */
		memmove(t->wqueue.data, t->wqueue.data + done,
			t->wqueue.len - done);
		t->wqueue.len -= done;
	}
	return KS_EOK;
}

int node_tls_pump(node_tls_t *t, const uint8_t *in, size_t len)
{
	uint8_t buf[16384];
	size_t n;
	int rc, ret = KS_EOK;
	bool progress;

	if (t->state == NODE_TLS_CLOSED)
		return t->reason[0] ? KS_ETLS : KS_ECLOSED;
	/*
	 * SSL_get_error() requires an empty error queue before each TLS I/O
	 * call (see its manual page).
	 */
	ERR_clear_error();
	if (len > 0) {
		if (BIO_write_ex(t->in, in, len, &n) != 1 || n != len) {
			ret = fail(t, KS_ENOMEM, "%s", "input buffer error");
			goto out;
		}
	}
	if (t->state == NODE_TLS_HANDSHAKE) {
		rc = SSL_do_handshake(t->ssl);
		if (rc != 1) {
			ret = translate(t, rc);
			goto out;
		}
		if (t->peer == NULL) { /* verify_cb always sets it */
			ret = fail(t, KS_ENOCERT, "%s",
				   "peer presented no certificate");
			goto out;
		}
		t->state = NODE_TLS_IO;
		ks_log_debug(TLS, "handshake with '%s' done (%s, %s)", t->peer,
			     SSL_get_version(t->ssl),
			     SSL_get_cipher_name(t->ssl));
		ret = t->io.established(t->io.arg, t->peer);
		if (ret != KS_EOK) {
			ret = fail(t, ret, "rejected by owner (%s)",
				   ks_strerror(ret));
			goto out;
		}
	}
	do {
		progress = false;
		ret = drain_writes(t);
		if (ret != KS_EOK || t->state == NODE_TLS_CLOSED)
			goto out;
		if (t->want_close && t->wqueue.len == 0 &&
		    t->state == NODE_TLS_IO) {
			SSL_shutdown(t->ssl);
			t->state = NODE_TLS_CLOSING;
		}
		while (!t->paused && t->state < NODE_TLS_CLOSED) {
			ERR_clear_error();
			rc = SSL_read_ex(t->ssl, buf, sizeof(buf), &n);
			if (rc != 1) {
				if (SSL_get_error(t->ssl, rc) ==
				    SSL_ERROR_ZERO_RETURN) {
					peer_closed(t);
					break;
				}
				ret = translate(t, rc);
				if (ret != KS_EOK)
					goto out;
				break;
			}
			progress = true;
			rc = t->io.recv(t->io.arg, buf, n);
			if (rc < 0) {
				ret = fail(t, rc, "delivery failed (%s)",
					   ks_strerror(rc));
				goto out;
			}
			if (rc == 1)
				t->paused = true;
			if (t->wqueue.len > 0 || t->want_close)
				break; /* write the reply first */
		}
	} while (progress && t->state < NODE_TLS_CLOSED &&
		 (t->wqueue.len > 0 || t->want_close));
out : {
	int fret = flush(t);
	if (ret == KS_EOK)
		ret = fret;
}
	if (ret != KS_EOK && t->reason[0] != '\0')
		ks_log_debug(TLS, "session failed: %s", t->reason);
	return ret;
}

int node_tls_write(node_tls_t *t, const void *p, size_t n)
{
	if (t->state >= NODE_TLS_CLOSING || t->want_close)
		return KS_ESTATE;
	return ks_buf_append(&t->wqueue, p, n);
}

void node_tls_close(node_tls_t *t)
{
	t->want_close = true;
}

void node_tls_resume(node_tls_t *t)
{
	t->paused = false;
}

enum node_tls_state node_tls_state(const node_tls_t *t)
{
	return t->state;
}

size_t node_tls_pending(const node_tls_t *t)
{
	return t->wqueue.len;
}

const char *node_tls_peer(const node_tls_t *t)
{
	return t->state >= NODE_TLS_IO || t->peer == NULL ? t->peer : NULL;
}

const char *node_tls_reason(const node_tls_t *t)
{
	return t->reason;
}

const char *node_tls_version(const node_tls_t *t)
{
	return t->state == NODE_TLS_HANDSHAKE ? "" : SSL_get_version(t->ssl);
}
