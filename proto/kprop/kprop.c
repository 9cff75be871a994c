/* SPDX-License-Identifier: MIT */
/*
 * kprop wire pieces and the two dialogue machines (see kprop.h).  No I/O
 * and no krb5 here: Kerberos messages are made and checked by the injected
 * ops.
 */
#include "proto/kprop/kprop.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/wire.h"

void kprop_size_encode(uint64_t size, uint8_t out[KPROP_SIZE_MAX_LEN],
		       size_t *len)
{
	if (size >= 1 && size <= UINT32_MAX) {
		ks_put_u32be(out, (uint32_t)size);
		*len = 4;
		return;
	}
	ks_put_u32be(out, 0);
	ks_put_u64be(out + 4, size);
	*len = 12;
}

int kprop_size_decode(ks_view_t in, uint64_t *size)
{
	if (in.len == 4) {
		*size = ks_get_u32be(in.ptr);
		return KS_EOK;
	}
	if (in.len != 12 || ks_get_u32be(in.ptr) != 0)
		return KS_EMALF;
	uint64_t v = ks_get_u64be(in.ptr + 4);
	if (v >= 1 && v <= UINT32_MAX)
		return KS_EMALF;
	*size = v;
	return KS_EOK;
}

int kprop_frame_append(ks_buf_t *out, ks_view_t payload)
{
	if (payload.len > UINT32_MAX)
		return KS_ELIMIT;
	int ret = ks_buf_reserve(out, 4 + payload.len);
	if (ret != KS_EOK)
		return ret;
	(void)ks_buf_append_u32(out, (uint32_t)payload.len);
	(void)ks_buf_append(out, payload.ptr, payload.len);
	return KS_EOK;
}

bool kprop_is_krb_error(ks_view_t frame)
{
	return frame.len > 0 && frame.ptr[0] == KPROP_KRB_ERROR_TAG;
}

static bool vers_eq(ks_view_t got, const char *want)
{
	size_t n = strlen(want) + 1; /* with its NUL */
	return got.len == n && memcmp(got.ptr, want, n) == 0;
}

enum kprop_vers_reply kprop_check_versions(ks_view_t sendauth, ks_view_t appl)
{
	if (!vers_eq(sendauth, KPROP_SENDAUTH_VERSION))
		return KPROP_VERS_BAD_SENDAUTH;
	if (!vers_eq(appl, KPROP_APPL_VERSION))
		return KPROP_VERS_BAD_APPL;
	return KPROP_VERS_OK;
}

/* One fgets() piece of the ACL file, already cut and stripped. */
static bool acl_piece_match(const char *buf, const char *client,
			    int32_t ticket_enctype,
			    kprop_enctype_parse_cb parse, void *arg)
{
	size_t n = strlen(client);
	if (strncmp(client, buf, n) != 0)
		return false;
	const char *p = buf + n;
	if (*p != '\0' && !isspace((unsigned char)*p))
		return false;
	while (*p != '\0' && isspace((unsigned char)*p))
		p++;
	if (*p == '\0')
		return true;
	int32_t et = 0;
	if (parse == NULL || parse(p, &et, arg) != 0)
		return false;
	return et == ticket_enctype;
}

bool kprop_acl_match(ks_view_t acl, const char *client, int32_t ticket_enctype,
		     kprop_enctype_parse_cb parse, void *arg)
{
	char buf[1024];
	size_t off = 0;

	while (off < acl.len) {
		/* fgets: up to 1023 bytes, through the first newline. */
		size_t n = 0;
		while (n < sizeof(buf) - 1 && off < acl.len) {
			buf[n] = (char)acl.ptr[off++];
			if (buf[n++] == '\n')
				break;
		}
		buf[n] = '\0';
		size_t len = strlen(buf); /* a NUL cuts the piece */
		/* kpropd strips buf[strlen - 1] if it is '\n' (a piece that
		 * starts with NUL has nothing to strip here). */
		if (len > 0 && buf[len - 1] == '\n')
			buf[len - 1] = '\0';
		if (acl_piece_match(buf, client, ticket_enctype, parse, arg))
			return true;
	}
	return false;
}

/* ---- shared helpers ---------------------------------------------------- */

/*
 * The next whole frame in in[*off..): 1 and *frame (borrowed until the
 * buffer changes) if complete, 0 if more bytes are needed, KS_ETOOBIG.
 */
static int next_frame(const ks_buf_t *in, size_t *off, uint32_t max,
		      ks_view_t *frame)
{
	size_t avail = in->len - *off;
	if (avail < 4)
		return 0;
	uint32_t n = ks_get_u32be(in->data + *off);
	if (n > max)
		return KS_ETOOBIG;
	if (avail - 4 < n)
		return 0;
	frame->ptr = in->data + *off + 4;
	frame->len = n;
	*off += 4 + (size_t)n;
	return 1;
}

/* Append input, dropping what was consumed before. */
static int take_input(ks_buf_t *in, size_t *off, const void *data, size_t len)
{
	if (*off > 0) {
		memmove(in->data, in->data + *off, in->len - *off);
		in->len -= *off;
		*off = 0;
	}
	return ks_buf_append(in, data, len);
}

static void set_reason(char *reason, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_reason(char *reason, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, cap, fmt, ap);
	va_end(ap);
}

/* ---- client (kprop) ---------------------------------------------------- */

enum {
	C_VERS = 1, /* waiting for the version reply byte */
	C_AUTH,	    /* waiting for the recvauth status frame */
	C_REP,	    /* waiting for the AP-REP */
	C_SEND,	    /* sending blocks */
	C_ACK,	    /* waiting for the acknowledgement */
	C_DONE,
	C_FAILED,
};

#define CFAIL(c, code, ...)                                                    \
	do {                                                                   \
		set_reason((c)->reason, sizeof((c)->reason), __VA_ARGS__);     \
		(c)->err = (code);                                             \
		(c)->step = C_FAILED;                                          \
		return (code);                                                 \
	} while (0)

int kprop_client_init(kprop_client_t *c, const kprop_ops_t *ops, void *ctx,
		      uint64_t size)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->ctx = ctx;
	c->size = size;
	c->step = C_VERS;
	const char *v1 = KPROP_SENDAUTH_VERSION, *v2 = KPROP_APPL_VERSION;
	int ret = kprop_frame_append(
		&c->out, (ks_view_t){ (const uint8_t *)v1, strlen(v1) + 1 });
	if (ret == KS_EOK)
		ret = kprop_frame_append(
			&c->out,
			(ks_view_t){ (const uint8_t *)v2, strlen(v2) + 1 });
	if (ret != KS_EOK)
		CFAIL(c, ret, "out of memory");
	return KS_EOK;
}

void kprop_client_deinit(kprop_client_t *c)
{
	ks_buf_free(&c->in);
	ks_buf_free(&c->out);
	ks_buf_free(&c->tmp);
	memset(c, 0, sizeof(*c));
}

static int client_peer_error(kprop_client_t *c, ks_view_t f, const char *when)
{
	char text[200] = "";
	if (c->ops->rd_error != NULL)
		c->ops->rd_error(c->ctx, f, text, sizeof(text));
	CFAIL(c, KS_EPEER, "%s: %s", when, text[0] ? text : "remote error");
}

/* After the AP-REP: the size message, then the cipher state. */
static int client_begin_data(kprop_client_t *c)
{
	uint8_t enc[KPROP_SIZE_MAX_LEN];
	size_t n;
	int ret;

	kprop_size_encode(c->size, enc, &n);
	ks_buf_reset(&c->tmp);
	ret = c->ops->mk_safe(c->ctx, (ks_view_t){ enc, n }, &c->tmp);
	if (ret != KS_EOK)
		CFAIL(c, ret, "while encoding database size");
	ret = kprop_frame_append(&c->out, ks_buf_view(&c->tmp));
	if (ret != KS_EOK)
		CFAIL(c, ret, "out of memory");
	ret = c->ops->init_ivector(c->ctx);
	if (ret != KS_EOK)
		CFAIL(c, ret, "while allocating i_vector");
	c->step = c->size == 0 ? C_ACK : C_SEND;
	return KS_EOK;
}

static int client_step(kprop_client_t *c)
{
	ks_view_t f;
	int ret;

	for (;;) {
		if (c->step == C_VERS) {
			if (c->in.len - c->in_off < 1)
				return KS_EOK;
			uint8_t b = c->in.data[c->in_off++];
			if (b == KPROP_VERS_BAD_SENDAUTH)
				CFAIL(c, KS_EVERSION,
				      "Incompatible sendauth version (server replied 1)");
			if (b == KPROP_VERS_BAD_APPL)
				CFAIL(c, KS_EVERSION,
				      "Incompatible application version (server replied 2)");
			if (b != KPROP_VERS_OK)
				CFAIL(c, KS_EKPROP,
				      "bad sendauth reply byte %u", b);
			ks_buf_reset(&c->tmp);
			ret = c->ops->mk_req(c->ctx, &c->tmp);
			if (ret != KS_EOK)
				CFAIL(c, ret, "while authenticating to server");
			ret = kprop_frame_append(&c->out, ks_buf_view(&c->tmp));
			if (ret != KS_EOK)
				CFAIL(c, ret, "out of memory");
			c->step = C_AUTH;
			continue;
		}
		if (c->step == C_DONE) {
			if (c->in.len > c->in_off)
				CFAIL(c, KS_ETRAILING,
				      "data after the acknowledgement");
			return KS_EOK;
		}
		if (c->step == C_FAILED)
			return c->err;
		ret = next_frame(&c->in, &c->in_off, KPROP_FRAME_MAX, &f);
		if (ret < 0)
			CFAIL(c, ret, "server frame too large");
		if (ret == 0)
			return KS_EOK;
		switch (c->step) {
		case C_AUTH:
			if (f.len == 0) {
				c->step = C_REP;
				break;
			}
			if (kprop_is_krb_error(f))
				return client_peer_error(
					c, f, "Authentication rejected");
			CFAIL(c, KS_EKPROP, "malformed recvauth reply");
		case C_REP:
			ret = c->ops->rd_rep(c->ctx, f);
			if (ret != KS_EOK)
				CFAIL(c, KS_EAUTH,
				      "while authenticating to server: bad AP-REP");
			ret = client_begin_data(c);
			if (ret != KS_EOK)
				return ret;
			break;
		case C_SEND:
			if (kprop_is_krb_error(f))
				return client_peer_error(
					c, f, "while sending database");
			CFAIL(c, KS_EKPROP, "unexpected message from server");
		case C_ACK: {
			if (kprop_is_krb_error(f))
				return client_peer_error(
					c, f,
					"while reading response from server");
			ks_buf_reset(&c->tmp);
			ret = c->ops->rd_safe(c->ctx, f, &c->tmp);
			if (ret != KS_EOK)
				CFAIL(c, ret,
				      "while decoding final size packet from server");
			uint64_t got;
			ret = kprop_size_decode(ks_buf_view(&c->tmp), &got);
			if (ret != KS_EOK)
				CFAIL(c, KS_EKPROP,
				      "malformed final size packet from server");
			if (got != c->size)
				CFAIL(c, KS_EKPROP,
				      "Kpropd sent database size %" PRIu64
				      ", expecting %" PRIu64,
				      got, c->size);
			c->step = C_DONE;
			break;
		}
		default:
			CFAIL(c, KS_EINTERNAL, "bad client state");
		}
	}
}

int kprop_client_input(kprop_client_t *c, const void *data, size_t len)
{
	if (c->step == C_FAILED)
		return c->err;
	int ret = take_input(&c->in, &c->in_off, data, len);
	if (ret != KS_EOK)
		CFAIL(c, ret, "out of memory");
	return client_step(c);
}

int kprop_client_block(kprop_client_t *c, ks_view_t data)
{
	int ret;

	if (c->step == C_FAILED)
		return c->err;
	if (c->step != C_SEND)
		CFAIL(c, KS_ESTATE, "block sent outside the data phase");
	if (data.len == 0 || data.len > KPROP_BLOCK_SIZE ||
	    data.len > c->size - c->sent)
		CFAIL(c, KS_ELIMIT, "block exceeds the announced size");
	ks_buf_reset(&c->tmp);
	ret = c->ops->mk_priv(c->ctx, data, &c->tmp);
	if (ret != KS_EOK)
		CFAIL(c, ret,
		      "while encoding database block starting at %" PRIu64,
		      c->sent);
	ret = kprop_frame_append(&c->out, ks_buf_view(&c->tmp));
	if (ret != KS_EOK)
		CFAIL(c, ret, "out of memory");
	c->sent += data.len;
	if (c->sent == c->size)
		c->step = C_ACK;
	return KS_EOK;
}

int kprop_client_abort(kprop_client_t *c, int code, const char *text)
{
	if (c->step == C_FAILED)
		return c->err;
	if (c->ops->mk_error != NULL && c->step >= C_SEND) {
		ks_buf_reset(&c->tmp);
		if (c->ops->mk_error(c->ctx, code, text, &c->tmp) == KS_EOK)
			(void)kprop_frame_append(&c->out, ks_buf_view(&c->tmp));
	}
	CFAIL(c, code, "%s", text);
}

ks_buf_t *kprop_client_out(kprop_client_t *c)
{
	return &c->out;
}

enum kprop_state kprop_client_state(const kprop_client_t *c)
{
	switch (c->step) {
	case C_SEND:
		return KPROP_ST_SEND;
	case C_DONE:
		return KPROP_ST_DONE;
	case C_FAILED:
		return KPROP_ST_FAILED;
	default:
		return KPROP_ST_WAIT;
	}
}

int kprop_client_error(const kprop_client_t *c)
{
	return c->err;
}

const char *kprop_client_reason(const kprop_client_t *c)
{
	return c->reason;
}

/* ---- server (kpropd) --------------------------------------------------- */

enum {
	S_V1 = 1, /* the sendauth version frame */
	S_V2,	  /* the application version frame */
	S_REQ,	  /* the AP-REQ */
	S_SIZE,	  /* the KRB-SAFE size message */
	S_DATA,	  /* KRB-PRIV blocks */
	S_LOAD,	  /* all received; the caller loads */
	S_DONE,
	S_FAILED,
};

#define SFAIL(s, code, ...)                                                    \
	do {                                                                   \
		set_reason((s)->reason, sizeof((s)->reason), __VA_ARGS__);     \
		(s)->err = (code);                                             \
		(s)->step = S_FAILED;                                          \
		return (code);                                                 \
	} while (0)

int kprop_server_init(kprop_server_t *s, const kprop_ops_t *ops, void *ctx)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->ctx = ctx;
	s->step = S_V1;
	return KS_EOK;
}

void kprop_server_deinit(kprop_server_t *s)
{
	ks_buf_free(&s->in);
	ks_buf_free(&s->out);
	ks_buf_free(&s->tmp);
	memset(s, 0, sizeof(*s));
}

/* Queue a KRB-ERROR for the client, as kpropd's send_error does. */
static void server_send_error(kprop_server_t *s, int code, const char *text)
{
	if (s->ops->mk_error == NULL)
		return;
	ks_buf_reset(&s->tmp);
	if (s->ops->mk_error(s->ctx, code, text, &s->tmp) == KS_EOK)
		(void)kprop_frame_append(&s->out, ks_buf_view(&s->tmp));
}

static int server_peer_error(kprop_server_t *s, ks_view_t f)
{
	char text[200] = "";
	if (s->ops->rd_error != NULL)
		s->ops->rd_error(s->ctx, f, text, sizeof(text));
	SFAIL(s, KS_EPEER, "client sent an error: %s",
	      text[0] ? text : "(no text)");
}

static int server_frame(kprop_server_t *s, ks_view_t f)
{
	int ret;
	char text[160];

	switch (s->step) {
	case S_V1:
		ks_buf_reset(&s->tmp);
		ret = ks_buf_append(&s->tmp, f.ptr, f.len);
		if (ret != KS_EOK)
			SFAIL(s, ret, "out of memory");
		s->step = S_V2;
		return KS_EOK;
	case S_V2: {
		enum kprop_vers_reply r =
			kprop_check_versions(ks_buf_view(&s->tmp), f);
		ret = ks_buf_append_u8(&s->out, (uint8_t)r);
		if (ret != KS_EOK)
			SFAIL(s, ret, "out of memory");
		if (r == KPROP_VERS_BAD_SENDAUTH)
			SFAIL(s, KS_EVERSION, "bad sendauth version");
		if (r == KPROP_VERS_BAD_APPL)
			SFAIL(s, KS_EVERSION,
			      "bad application version (not kprop5_01)");
		s->step = S_REQ;
		return KS_EOK;
	}
	case S_REQ:
		ks_buf_reset(&s->tmp);
		ret = s->ops->rd_req(s->ctx, f, &s->tmp);
		if (ret != KS_EOK) {
			if (s->tmp.len > 0)
				(void)kprop_frame_append(&s->out,
							 ks_buf_view(&s->tmp));
			SFAIL(s, KS_EAUTH, "authentication failed (AP-REQ)");
		}
		ret = kprop_frame_append(&s->out, (ks_view_t){ NULL, 0 });
		ks_buf_reset(&s->tmp);
		if (ret == KS_EOK)
			ret = s->ops->mk_rep(s->ctx, &s->tmp);
		if (ret == KS_EOK)
			ret = kprop_frame_append(&s->out, ks_buf_view(&s->tmp));
		if (ret != KS_EOK)
			SFAIL(s, ret, "while building the AP-REP");
		/* Like kpropd: authorise after the AP-REP; a refused client
		 * gets no KRB-ERROR, the connection just closes. */
		ret = s->ops->authorize(s->ctx);
		if (ret != KS_EOK)
			SFAIL(s, ret, "client not authorised");
		s->step = S_SIZE;
		return KS_EOK;
	case S_SIZE: {
		if (kprop_is_krb_error(f))
			return server_peer_error(s, f);
		ks_buf_reset(&s->tmp);
		ret = s->ops->rd_safe(s->ctx, f, &s->tmp);
		if (ret != KS_EOK) {
			server_send_error(s, ret,
					  "while decoding database size");
			SFAIL(s, ret, "while decoding database size");
		}
		ret = kprop_size_decode(ks_buf_view(&s->tmp), &s->size);
		if (ret != KS_EOK) {
			server_send_error(s, ret,
					  "malformed database size message");
			SFAIL(s, ret, "malformed database size message");
		}
		ret = s->ops->init_ivector(s->ctx);
		if (ret != KS_EOK) {
			server_send_error(s, ret,
					  "failed while initializing i_vector");
			SFAIL(s, ret, "while initializing i_vector");
		}
		s->step = s->size == 0 ? S_LOAD : S_DATA;
		return KS_EOK;
	}
	case S_DATA:
		if (kprop_is_krb_error(f))
			return server_peer_error(s, f);
		ks_buf_reset(&s->tmp);
		ret = s->ops->rd_priv(s->ctx, f, &s->tmp);
		if (ret != KS_EOK) {
			snprintf(
				text, sizeof(text),
				"while decoding database block starting at offset %" PRIu64,
				s->received);
			server_send_error(s, ret, text);
			SFAIL(s, ret, "%s", text);
		}
		if (s->tmp.len > s->size - s->received) {
			snprintf(text, sizeof(text),
				 "Received %" PRIu64 " bytes, expected %" PRIu64
				 " bytes for database file",
				 s->received + s->tmp.len, s->size);
			server_send_error(s, KS_EKPROP, text);
			SFAIL(s, KS_EKPROP, "%s", text);
		}
		ret = s->ops->sink(s->ctx, ks_buf_view(&s->tmp));
		if (ret != KS_EOK) {
			snprintf(
				text, sizeof(text),
				"while processing database block starting at offset %" PRIu64,
				s->received);
			server_send_error(s, ret, text);
			SFAIL(s, ret, "%s", text);
		}
		s->received += s->tmp.len;
		if (s->received == s->size)
			s->step = S_LOAD;
		return KS_EOK;
	default:
		SFAIL(s, KS_EINTERNAL, "bad server state");
	}
}

int kprop_server_input(kprop_server_t *s, const void *data, size_t len)
{
	ks_view_t f;
	int ret;

	if (s->step == S_FAILED)
		return s->err;
	if ((s->step == S_LOAD || s->step == S_DONE) && len > 0)
		SFAIL(s, KS_ETRAILING, "data after the last database block");
	ret = take_input(&s->in, &s->in_off, data, len);
	if (ret != KS_EOK)
		SFAIL(s, ret, "out of memory");
	while (s->step < S_LOAD) {
		uint32_t max =
			s->step <= S_V2 ? KPROP_VERSION_MAX : KPROP_FRAME_MAX;
		ret = next_frame(&s->in, &s->in_off, max, &f);
		if (ret < 0)
			SFAIL(s, ret, "client frame too large");
		if (ret == 0)
			break;
		ret = server_frame(s, f);
		if (ret != KS_EOK)
			return ret;
	}
	if (s->step == S_LOAD && s->in.len > s->in_off)
		SFAIL(s, KS_ETRAILING, "data after the last database block");
	return KS_EOK;
}

int kprop_server_ack(kprop_server_t *s)
{
	uint8_t enc[KPROP_SIZE_MAX_LEN];
	size_t n;
	int ret;

	if (s->step == S_FAILED)
		return s->err;
	if (s->step != S_LOAD)
		SFAIL(s, KS_ESTATE, "ack before the transfer completed");
	kprop_size_encode(s->size, enc, &n);
	ks_buf_reset(&s->tmp);
	ret = s->ops->mk_safe(s->ctx, (ks_view_t){ enc, n }, &s->tmp);
	if (ret == KS_EOK)
		ret = kprop_frame_append(&s->out, ks_buf_view(&s->tmp));
	if (ret != KS_EOK)
		SFAIL(s, ret, "while encoding # of received bytes");
	s->step = S_DONE;
	return KS_EOK;
}

int kprop_server_abort(kprop_server_t *s, int code, const char *text,
		       bool send_error)
{
	if (s->step == S_FAILED)
		return s->err;
	if (send_error && s->step >= S_SIZE)
		server_send_error(s, code, text);
	SFAIL(s, code, "%s", text);
}

ks_buf_t *kprop_server_out(kprop_server_t *s)
{
	return &s->out;
}

enum kprop_state kprop_server_state(const kprop_server_t *s)
{
	switch (s->step) {
	case S_LOAD:
		return KPROP_ST_LOAD;
	case S_DONE:
		return KPROP_ST_DONE;
	case S_FAILED:
		return KPROP_ST_FAILED;
	default:
		return KPROP_ST_WAIT;
	}
}

int kprop_server_error(const kprop_server_t *s)
{
	return s->err;
}

const char *kprop_server_reason(const kprop_server_t *s)
{
	return s->reason;
}

uint64_t kprop_server_size(const kprop_server_t *s)
{
	return s->step >= S_LOAD ? s->size : 0;
}
