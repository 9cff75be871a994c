/* SPDX-License-Identifier: MIT */
/*
 * Replication messages behind msg.h: one decoder and one encoder per type,
 * over the sticky wire cursor; field layouts are those of PROTOCOL.md §3.
 */
#include "proto/msg.h"

#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/wire.h"
#include "proto/frame.h"

const char *proto_msg_type_name(int type)
{
	switch (type) {
	case PROTO_MSG_HELLO:
		return "hello";
	case PROTO_MSG_ANSWER:
		return "answer";
	case PROTO_MSG_SNAP_BEGIN:
		return "snap-begin";
	case PROTO_MSG_SNAP_CHUNK:
		return "snap-chunk";
	case PROTO_MSG_SNAP_END:
		return "snap-end";
	case PROTO_MSG_BATCH:
		return "batch";
	case PROTO_MSG_ACK:
		return "ack";
	case PROTO_MSG_KEEPALIVE:
		return "keepalive";
	case PROTO_MSG_ERROR:
		return "error";
	case PROTO_MSG_DIGEST_REQ:
		return "digest-req";
	case PROTO_MSG_DIGEST_RSP:
		return "digest-rsp";
	case PROTO_MSG_FETCH:
		return "fetch";
	case PROTO_MSG_VALUES:
		return "values";
	case PROTO_MSG_LOCKOUT:
		return "lockout";
	case PROTO_MSG_KDB_DIGEST_REQ:
		return "kdb-digest-req";
	case PROTO_MSG_KDB_DIGEST_RSP:
		return "kdb-digest-rsp";
	case PROTO_MSG_REFETCH:
		return "refetch";
	case PROTO_MSG_REVALUES:
		return "revalues";
	default:
		return "?";
	}
}

/* Node names: printable ASCII without spaces. */
static bool name_ok(ks_view_t v)
{
	if (v.len == 0 || v.len > PROTO_NAME_MAX)
		return false;
	for (size_t i = 0; i < v.len; i++)
		if (v.ptr[i] <= 0x20 || v.ptr[i] >= 0x7f)
			return false;
	return true;
}

/* Free text: printable ASCII including spaces. */
static bool text_ok(ks_view_t v)
{
	if (v.len > PROTO_TEXT_MAX)
		return false;
	for (size_t i = 0; i < v.len; i++)
		if (v.ptr[i] < 0x20 || v.ptr[i] >= 0x7f)
			return false;
	return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* A length-prefixed field: check the declared length against \p max and the
 * bytes left before taking it. */
static int read_lv8(ks_wire_t *w, size_t max, ks_view_t *out)
{
	size_t n = ks_wire_read_u8(w);
	if (w->err)
		return w->err;
	if (n > max)
		return KS_ELIMIT;
	if (n > ks_wire_left(w))
		return KS_ETRUNC;
	out->ptr = ks_wire_read_view(w, n);
	out->len = n;
	return w->err;
}

static int decode_hello(ks_wire_t *w, proto_hello_t *h)
{
	uint32_t magic = ks_wire_read_u32(w);
	h->version_min = ks_wire_read_u16(w);
	h->version_max = ks_wire_read_u16(w);
	h->role = ks_wire_read_u8(w);
	h->caps = ks_wire_read_u32(w);
	ks_wire_read_bytes(w, h->history, sizeof(h->history));
	h->seq = ks_wire_read_u64(w);
	if (w->err)
		return w->err;
	if (magic != PROTO_HELLO_MAGIC)
		return KS_EVERSION;
	if (h->version_min == 0 || h->version_min > h->version_max)
		return KS_EVERSION;
	int ret = read_lv8(w, PROTO_NAME_MAX, &h->name);
	if (ret != KS_EOK)
		return ret;
	if (h->role != PROTO_ROLE_PRIMARY && h->role != PROTO_ROLE_REPLICA)
		return KS_EMALF;
	if (!name_ok(h->name))
		return KS_EMALF;
	/* The identity extension, when whole and well-formed; anything
	 * else after the name is ignored (later versions' fields). */
	h->has_ident = false;
	if (ks_wire_left(w) >= 1 + PROTO_KEYID_LEN) {
		ks_wire_t x = *w;
		ks_view_t realm;
		if (read_lv8(&x, PROTO_NAME_MAX, &realm) == KS_EOK &&
		    ks_wire_left(&x) >= PROTO_KEYID_LEN &&
		    (realm.len == 0 || name_ok(realm))) {
			h->realm = realm;
			ks_wire_read_bytes(&x, h->key_id, PROTO_KEYID_LEN);
			h->has_ident = x.err == KS_EOK;
		}
	}
	w->pos = w->end;
	return KS_EOK;
}

static int decode_answer(ks_wire_t *w, proto_answer_t *a)
{
	a->version = ks_wire_read_u16(w);
	a->mode = ks_wire_read_u8(w);
	ks_wire_read_bytes(w, a->history, sizeof(a->history));
	a->from_seq = ks_wire_read_u64(w);
	a->reason = (int32_t)ks_wire_read_u32(w);
	if (w->err)
		return w->err;
	int ret = read_lv8(w, PROTO_TEXT_MAX, &a->text);
	if (ret != KS_EOK)
		return ret;
	if (a->version < PROTO_VERSION_MIN || a->version > PROTO_VERSION_MAX)
		return KS_EVERSION;
	switch (a->mode) {
	case PROTO_ANSWER_INCREMENTAL:
		if (a->from_seq == 0 || a->reason != 0 || a->text.len != 0)
			return KS_EMALF;
		break;
	case PROTO_ANSWER_SNAPSHOT:
		if (a->from_seq != 0 || a->reason != 0 || a->text.len != 0)
			return KS_EMALF;
		break;
	case PROTO_ANSWER_REFUSED:
		if (a->from_seq != 0 || a->reason >= 0)
			return KS_EMALF;
		break;
	case PROTO_ANSWER_REWIND:
		if (a->from_seq == 0 || a->reason != 0 || a->text.len != 0)
			return KS_EMALF;
		break;
	default:
		return KS_EMALF;
	}
	if (!text_ok(a->text))
		return KS_EMALF;
	if (a->mode != PROTO_ANSWER_REFUSED &&
	    all_zero(a->history, sizeof(a->history)))
		return KS_EMALF;
	return KS_EOK;
}

static int decode_error(ks_wire_t *w, proto_error_t *e)
{
	e->code = (int32_t)ks_wire_read_u32(w);
	if (w->err)
		return w->err;
	int ret = read_lv8(w, PROTO_TEXT_MAX, &e->text);
	if (ret != KS_EOK)
		return ret;
	if (e->code >= 0 || !text_ok(e->text))
		return KS_EMALF;
	return KS_EOK;
}

void proto_digest_part(uint16_t lo, uint16_t hi, uint16_t parts, uint16_t i,
		       uint16_t *a, uint16_t *b)
{
	uint32_t w = (uint32_t)(hi - lo);
	*a = (uint16_t)(lo + w * i / parts);
	*b = (uint16_t)(lo + w * (i + 1u) / parts);
}

static bool digest_range_ok(uint8_t kind, uint16_t lo, uint16_t hi)
{
	if (lo >= hi || hi > PROTO_DIGEST_BUCKETS)
		return false;
	return kind == PROTO_DIGEST_RANGES ||
	       (kind == PROTO_DIGEST_LIST && hi == lo + 1);
}

static int decode_digest_req(ks_wire_t *w, proto_digest_req_t *r)
{
	r->id = ks_wire_read_u32(w);
	r->kind = ks_wire_read_u8(w);
	r->lo = ks_wire_read_u16(w);
	r->hi = ks_wire_read_u16(w);
	r->parts = ks_wire_read_u16(w);
	if (w->err)
		return w->err;
	if (!digest_range_ok(r->kind, r->lo, r->hi))
		return KS_EMALF;
	if (r->kind == PROTO_DIGEST_LIST)
		return r->parts == 0 ? KS_EOK : KS_EMALF;
	if (r->parts == 0 || r->parts > r->hi - r->lo)
		return KS_EMALF;
	return r->parts > PROTO_DIGEST_PARTS_MAX ? KS_ELIMIT : KS_EOK;
}

bool proto_fetch_next(ks_view_t body, size_t *pos, ks_view_t *key)
{
	size_t p = *pos;
	if (body.len < 2 || p > body.len - 2)
		return false;
	size_t kl = ((size_t)body.ptr[p] << 8) | body.ptr[p + 1];
	if (kl == 0 || kl > body.len - p - 2)
		return false;
	*key = (ks_view_t){ .ptr = body.ptr + p + 2, .len = kl };
	*pos = p + 2 + kl;
	return true;
}

int proto_fetch_add(ks_buf_t *body, ks_view_t key)
{
	uint8_t len[2] = { (uint8_t)(key.len >> 8), (uint8_t)key.len };
	if (key.len == 0 || key.len > PROTO_DIGEST_KEY_MAX)
		return KS_EINVAL;
	int ret = ks_buf_append(body, len, 2);
	return ret == KS_EOK ? ks_buf_append(body, key.ptr, key.len) : ret;
}

static bool lockout_name_ok(ks_view_t n)
{
	return n.len != 0 && n.len <= PROTO_LOCKOUT_NAME_MAX &&
	       memchr(n.ptr, 0, n.len) == NULL;
}

static int decode_lockout(ks_wire_t *w, proto_lockout_t *l)
{
	uint16_t nl = ks_wire_read_u16(w);
	if (w->err)
		return w->err;
	if (nl > ks_wire_left(w))
		return KS_ETRUNC;
	l->name = (ks_view_t){ .ptr = ks_wire_read_view(w, nl), .len = nl };
	l->last_success = ks_wire_read_u32(w);
	l->last_failed = ks_wire_read_u32(w);
	l->fail_auth_count = (int32_t)ks_wire_read_u32(w);
	if (w->err)
		return w->err;
	if (!lockout_name_ok(l->name) || l->fail_auth_count < 0)
		return KS_EMALF;
	return KS_EOK;
}

/* Exactly `count` entries; bytes after them are the caller's KS_ETRAILING. */
static int decode_fetch(ks_wire_t *w, proto_fetch_t *f)
{
	f->seq = ks_wire_read_u64(w);
	f->count = ks_wire_read_u32(w);
	if (w->err)
		return w->err;
	if (f->count == 0)
		return KS_EMALF;
	if (f->count > PROTO_FETCH_KEYS_MAX)
		return KS_ELIMIT;
	const uint8_t *start = w->pos;
	for (uint32_t i = 0; i < f->count; i++) {
		uint16_t kl = ks_wire_read_u16(w);
		if (w->err)
			return w->err;
		if (kl == 0)
			return KS_EMALF; /* (a u16 is within the key limit) */
		if (kl > ks_wire_left(w))
			return KS_ETRUNC;
		(void)ks_wire_read_view(w, kl);
	}
	f->body = (ks_view_t){ .ptr = start, .len = (size_t)(w->pos - start) };
	return w->err;
}

/* Walk a LIST body: every entry well-formed, keys strictly ascending. */
static int check_list(ks_view_t body, uint32_t count)
{
	size_t pos = 0, n = 0;
	ks_view_t key, prev = { 0 };
	const uint8_t *hash;

	while (pos < body.len) {
		if (body.len - pos < 2)
			return KS_ETRUNC;
		size_t kl = ((size_t)body.ptr[pos] << 8) | body.ptr[pos + 1];
		if (kl == 0)
			return KS_EMALF;
		if (kl > PROTO_DIGEST_KEY_MAX)
			return KS_ELIMIT;
		if (body.len - pos - 2 < kl + PROTO_DIGEST_HASH_LEN)
			return KS_ETRUNC;
		proto_digest_list_next(body, &pos, &key, &hash);
		if (n > 0) {
			size_t m = prev.len < key.len ? prev.len : key.len;
			int c = memcmp(prev.ptr, key.ptr, m);
			if (c > 0 || (c == 0 && prev.len >= key.len))
				return KS_EMALF; /* not ascending */
		}
		prev = key;
		if (++n > count)
			return KS_ECOUNT;
	}
	/* fewer whole entries than counted: truncated, as a RANGES body or a
	 * FETCH that ends early (PROTOCOL.md §3.8) */
	return n == count ? KS_EOK : KS_ETRUNC;
}

bool proto_digest_list_next(ks_view_t body, size_t *pos, ks_view_t *key,
			    const uint8_t **hash)
{
	size_t p = *pos;
	if (body.len < 2 || p > body.len - 2)
		return false;
	size_t kl = ((size_t)body.ptr[p] << 8) | body.ptr[p + 1];
	if (body.len - p - 2 < kl + PROTO_DIGEST_HASH_LEN)
		return false;
	key->ptr = body.ptr + p + 2;
	key->len = kl;
	*hash = body.ptr + p + 2 + kl;
	*pos = p + 2 + kl + PROTO_DIGEST_HASH_LEN;
	return true;
}

static int decode_digest_rsp(ks_wire_t *w, proto_digest_rsp_t *r)
{
	r->id = ks_wire_read_u32(w);
	r->kind = ks_wire_read_u8(w);
	r->lo = ks_wire_read_u16(w);
	r->hi = ks_wire_read_u16(w);
	ks_wire_read_bytes(w, r->history, PROTO_HISTORY_LEN);
	r->seq = ks_wire_read_u64(w);
	r->count = ks_wire_read_u32(w);
	if (w->err)
		return w->err;
	if (!digest_range_ok(r->kind, r->lo, r->hi))
		return KS_EMALF;
	r->body.len = ks_wire_left(w);
	r->body.ptr = ks_wire_read_view(w, r->body.len);
	if (r->kind == PROTO_DIGEST_RANGES) {
		if (r->count == 0 || r->count > (uint32_t)(r->hi - r->lo))
			return KS_EMALF;
		if (r->count > PROTO_DIGEST_PARTS_MAX)
			return KS_ELIMIT;
		if (r->body.len !=
		    (size_t)r->count * (PROTO_DIGEST_HASH_LEN + 8))
			return r->body.len < (size_t)r->count *
						       (PROTO_DIGEST_HASH_LEN +
							8)
				       ? KS_ETRUNC
				       : KS_ECOUNT;
		return KS_EOK;
	}
	return check_list(r->body, r->count);
}

int proto_msg_decode(ks_view_t frame, proto_msg_t *out)
{
	proto_msg_t m = { 0 };
	int ret;

	if (frame.len == 0)
		return KS_ETRUNC;
	ks_wire_t w = ks_wire_reader(frame.ptr, frame.len);
	m.type = ks_wire_read_u8(&w);
	switch (m.type) {
	case PROTO_MSG_HELLO:
		ret = decode_hello(&w, &m.u.hello);
		break;
	case PROTO_MSG_ANSWER:
		ret = decode_answer(&w, &m.u.answer);
		break;
	case PROTO_MSG_SNAP_BEGIN:
		ks_wire_read_bytes(&w, m.u.snap_begin.history,
				   PROTO_HISTORY_LEN);
		m.u.snap_begin.seq = ks_wire_read_u64(&w);
		m.u.snap_begin.record_count = ks_wire_read_u64(&w);
		ret = w.err;
		if (ret == KS_EOK &&
		    all_zero(m.u.snap_begin.history, PROTO_HISTORY_LEN))
			ret = KS_EMALF;
		break;
	case PROTO_MSG_SNAP_CHUNK:
	case PROTO_MSG_SNAP_END:
	case PROTO_MSG_BATCH:
	case PROTO_MSG_REVALUES:
	case PROTO_MSG_VALUES:
		/* The signed blob is the rest of the frame; batch.c checks it. */
		m.u.blob.len = ks_wire_left(&w);
		m.u.blob.ptr = ks_wire_read_view(&w, m.u.blob.len);
		ret = m.u.blob.len == 0 ? KS_ETRUNC : w.err;
		break;
	case PROTO_MSG_ACK:
		ks_wire_read_bytes(&w, m.u.ack.history, PROTO_HISTORY_LEN);
		m.u.ack.seq = ks_wire_read_u64(&w);
		ret = w.err;
		break;
	case PROTO_MSG_KEEPALIVE:
		m.u.keepalive.time_us = ks_wire_read_u64(&w);
		ret = w.err;
		break;
	case PROTO_MSG_ERROR:
		ret = decode_error(&w, &m.u.error);
		break;
	case PROTO_MSG_KDB_DIGEST_REQ:
	case PROTO_MSG_DIGEST_REQ:
		ret = decode_digest_req(&w, &m.u.digest_req);
		break;
	case PROTO_MSG_KDB_DIGEST_RSP:
	case PROTO_MSG_DIGEST_RSP:
		ret = decode_digest_rsp(&w, &m.u.digest_rsp);
		break;
	case PROTO_MSG_REFETCH:
	case PROTO_MSG_FETCH:
		ret = decode_fetch(&w, &m.u.fetch);
		break;
	case PROTO_MSG_LOCKOUT:
		ret = decode_lockout(&w, &m.u.lockout);
		break;
	default:
		ret = KS_ETYPE;
		break;
	}
	if (ret == KS_EOK && ks_wire_left(&w) != 0)
		ret = KS_ETRAILING;
	if (ret != KS_EOK) {
		ks_log_debug(PROTO, "bad '%s' message (%s)",
			     proto_msg_type_name(m.type), ks_strerror(ret));
		return ret;
	}
	*out = m;
	return KS_EOK;
}

/* Payload size of \p m, or 0 if a field is out of its domain. */
static size_t payload_size(const proto_msg_t *m)
{
	switch (m->type) {
	case PROTO_MSG_HELLO:
		if (!name_ok(m->u.hello.name) || m->u.hello.version_min == 0 ||
		    m->u.hello.version_min > m->u.hello.version_max ||
		    (m->u.hello.role != PROTO_ROLE_PRIMARY &&
		     m->u.hello.role != PROTO_ROLE_REPLICA))
			return 0;
		if (m->u.hello.has_ident && m->u.hello.realm.len != 0 &&
		    !name_ok(m->u.hello.realm))
			return 0;
		return 4 + 2 + 2 + 1 + 4 + PROTO_HISTORY_LEN + 8 + 1 +
		       m->u.hello.name.len +
		       (m->u.hello.has_ident
				? 1 + m->u.hello.realm.len + PROTO_KEYID_LEN
				: 0);
	case PROTO_MSG_ANSWER:
		if (!text_ok(m->u.answer.text))
			return 0;
		return 2 + 1 + PROTO_HISTORY_LEN + 8 + 4 + 1 +
		       m->u.answer.text.len;
	case PROTO_MSG_SNAP_BEGIN:
		return PROTO_HISTORY_LEN + 8 + 8;
	case PROTO_MSG_SNAP_CHUNK:
	case PROTO_MSG_SNAP_END:
	case PROTO_MSG_BATCH:
	case PROTO_MSG_REVALUES:
	case PROTO_MSG_VALUES:
		return m->u.blob.len;
	case PROTO_MSG_ACK:
		return PROTO_HISTORY_LEN + 8;
	case PROTO_MSG_KEEPALIVE:
		return 8;
	case PROTO_MSG_ERROR:
		if (m->u.error.code >= 0 || !text_ok(m->u.error.text))
			return 0;
		return 4 + 1 + m->u.error.text.len;
	case PROTO_MSG_KDB_DIGEST_REQ:
	case PROTO_MSG_DIGEST_REQ:
		return 4 + 1 + 2 + 2 + 2;
	case PROTO_MSG_KDB_DIGEST_RSP:
	case PROTO_MSG_DIGEST_RSP:
		return 4 + 1 + 2 + 2 + PROTO_HISTORY_LEN + 8 + 4 +
		       m->u.digest_rsp.body.len;
	case PROTO_MSG_REFETCH:
	case PROTO_MSG_FETCH:
		return 8 + 4 + m->u.fetch.body.len;
	case PROTO_MSG_LOCKOUT:
		if (!lockout_name_ok(m->u.lockout.name) ||
		    m->u.lockout.fail_auth_count < 0)
			return 0;
		return 2 + m->u.lockout.name.len + 4 + 4 + 4;
	default:
		return 0;
	}
}

int proto_msg_encode(const proto_msg_t *m, ks_buf_t *out)
{
	size_t n = payload_size(m);
	if (n == 0)
		return KS_EINVAL;
	if (n > PROTO_FRAME_MAX_HARD - 1)
		return KS_ETOOBIG;
	size_t total = PROTO_FRAME_PREFIX + 1 + n;
	int ret = ks_buf_reserve(out, total);
	if (ret != KS_EOK)
		return ret;

	ks_wire_t w = ks_wire_writer(out->data + out->len, total);
	ks_wire_write_u32(&w, (uint32_t)(1 + n));
	ks_wire_write_u8(&w, m->type);
	switch (m->type) {
	case PROTO_MSG_HELLO: {
		const proto_hello_t *h = &m->u.hello;
		ks_wire_write_u32(&w, PROTO_HELLO_MAGIC);
		ks_wire_write_u16(&w, h->version_min);
		ks_wire_write_u16(&w, h->version_max);
		ks_wire_write_u8(&w, h->role);
		ks_wire_write_u32(&w, h->caps);
		ks_wire_write_bytes(&w, h->history, PROTO_HISTORY_LEN);
		ks_wire_write_u64(&w, h->seq);
		ks_wire_write_u8(&w, (uint8_t)h->name.len);
		ks_wire_write_bytes(&w, h->name.ptr, h->name.len);
		if (h->has_ident) {
			ks_wire_write_u8(&w, (uint8_t)h->realm.len);
			ks_wire_write_bytes(&w, h->realm.ptr, h->realm.len);
			ks_wire_write_bytes(&w, h->key_id, PROTO_KEYID_LEN);
		}
		break;
	}
	case PROTO_MSG_ANSWER: {
		const proto_answer_t *a = &m->u.answer;
		ks_wire_write_u16(&w, a->version);
		ks_wire_write_u8(&w, a->mode);
		ks_wire_write_bytes(&w, a->history, PROTO_HISTORY_LEN);
		ks_wire_write_u64(&w, a->from_seq);
		ks_wire_write_u32(&w, (uint32_t)a->reason);
		ks_wire_write_u8(&w, (uint8_t)a->text.len);
		ks_wire_write_bytes(&w, a->text.ptr, a->text.len);
		break;
	}
	case PROTO_MSG_SNAP_BEGIN:
		ks_wire_write_bytes(&w, m->u.snap_begin.history,
				    PROTO_HISTORY_LEN);
		ks_wire_write_u64(&w, m->u.snap_begin.seq);
		ks_wire_write_u64(&w, m->u.snap_begin.record_count);
		break;
	case PROTO_MSG_SNAP_CHUNK:
	case PROTO_MSG_SNAP_END:
	case PROTO_MSG_BATCH:
	case PROTO_MSG_REVALUES:
	case PROTO_MSG_VALUES:
		ks_wire_write_bytes(&w, m->u.blob.ptr, m->u.blob.len);
		break;
	case PROTO_MSG_REFETCH:
	case PROTO_MSG_FETCH:
		ks_wire_write_u64(&w, m->u.fetch.seq);
		ks_wire_write_u32(&w, m->u.fetch.count);
		ks_wire_write_bytes(&w, m->u.fetch.body.ptr,
				    m->u.fetch.body.len);
		break;
	case PROTO_MSG_ACK:
		ks_wire_write_bytes(&w, m->u.ack.history, PROTO_HISTORY_LEN);
		ks_wire_write_u64(&w, m->u.ack.seq);
		break;
	case PROTO_MSG_LOCKOUT: {
		const proto_lockout_t *l = &m->u.lockout;
		ks_wire_write_u16(&w, (uint16_t)l->name.len);
		ks_wire_write_bytes(&w, l->name.ptr, l->name.len);
		ks_wire_write_u32(&w, l->last_success);
		ks_wire_write_u32(&w, l->last_failed);
		ks_wire_write_u32(&w, (uint32_t)l->fail_auth_count);
		break;
	}
	case PROTO_MSG_KEEPALIVE:
		ks_wire_write_u64(&w, m->u.keepalive.time_us);
		break;
	case PROTO_MSG_ERROR:
		ks_wire_write_u32(&w, (uint32_t)m->u.error.code);
		ks_wire_write_u8(&w, (uint8_t)m->u.error.text.len);
		ks_wire_write_bytes(&w, m->u.error.text.ptr,
				    m->u.error.text.len);
		break;
	case PROTO_MSG_KDB_DIGEST_REQ:
	case PROTO_MSG_DIGEST_REQ: {
		const proto_digest_req_t *r = &m->u.digest_req;
		ks_wire_write_u32(&w, r->id);
		ks_wire_write_u8(&w, r->kind);
		ks_wire_write_u16(&w, r->lo);
		ks_wire_write_u16(&w, r->hi);
		ks_wire_write_u16(&w, r->parts);
		break;
	}
	case PROTO_MSG_KDB_DIGEST_RSP:
	case PROTO_MSG_DIGEST_RSP: {
		const proto_digest_rsp_t *r = &m->u.digest_rsp;
		ks_wire_write_u32(&w, r->id);
		ks_wire_write_u8(&w, r->kind);
		ks_wire_write_u16(&w, r->lo);
		ks_wire_write_u16(&w, r->hi);
		ks_wire_write_bytes(&w, r->history, PROTO_HISTORY_LEN);
		ks_wire_write_u64(&w, r->seq);
		ks_wire_write_u32(&w, r->count);
		ks_wire_write_bytes(&w, r->body.ptr, r->body.len);
		break;
	}
	}
	if (w.err != KS_EOK || ks_wire_left(&w) != 0)
		return KS_EINTERNAL;
	/* Never send what a peer would reject: run the decoder over it. */
	proto_msg_t check;
	ret = proto_msg_decode(
		(ks_view_t){ .ptr = out->data + out->len + PROTO_FRAME_PREFIX,
			     .len = total - PROTO_FRAME_PREFIX },
		&check);
	if (ret != KS_EOK)
		return KS_EINVAL;
	out->len += total;
	return KS_EOK;
}

int proto_version_negotiate(const proto_hello_t *a, const proto_hello_t *b,
			    uint16_t *version)
{
	uint16_t lo = a->version_min > b->version_min ? a->version_min
						      : b->version_min;
	uint16_t hi = a->version_max < b->version_max ? a->version_max
						      : b->version_max;
	if (lo > hi || lo == 0)
		return KS_EVERSION;
	*version = hi;
	return KS_EOK;
}
