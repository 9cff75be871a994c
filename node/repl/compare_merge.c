/* SPDX-License-Identifier: MIT */
/*
 * `kdcsync verify PEER` with KDBs (PROTOCOL.md §3.11): one bucket's four
 * listings -- our store, our KDB, the peer's store, the peer's KDB, each
 * (key, record hash) in key order -- merged key by key.  A key that the
 * four do not all hold with the same value gets one report line per pair
 * that differs, naming the pair: the two stores, the two KDBs, our KDB
 * against our store, the peer's KDB against its store.
 */
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "node/repl/repl_int.h"

enum {
	MS,
	MK,
	TS,
	TK,
	NSRC
}; /* our store, our KDB, theirs */

typedef struct src {
	ks_view_t body;
	size_t pos;
	bool have;
	ks_view_t key;
	const uint8_t *hash;
} src_t;

static void next(src_t *s)
{
	s->have = proto_digest_list_next(s->body, &s->pos, &s->key, &s->hash);
}

static int key_cmp(ks_view_t a, ks_view_t b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;

	return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* The hashes of one key in the four sets (NULL: absent). */
static bool same(const uint8_t *a, const uint8_t *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return memcmp(a, b, PROTO_DIGEST_HASH_LEN) == 0;
}

/* One pair: "A and B differ", "only A", "only B" (nothing when equal). */
static int pair(ks_buf_t *out, ks_view_t key, const uint8_t *a,
		const uint8_t *b, const char *both, const char *only_a,
		const char *only_b, bool *any)
{
	if (same(a, b))
		return KS_EOK;
	*any = true;
	return node_repl__key_line(out,
				   a == NULL   ? only_b
				   : b == NULL ? only_a
					       : both,
				   key);
}

int node_repl__compare_bucket4(node_repl_t *r, ks_view_t ms, ks_view_t mk,
			       ks_view_t ts, ks_view_t tk)
{
	repl_compare_t *v = &r->compare;
	const char *me = r->name, *peer = v->peer;
	char l[12][300];
	src_t s[NSRC] = {
		{ .body = ms }, { .body = mk }, { .body = ts }, { .body = tk }
	};
	int ret = KS_EOK;

	/* the labels, "what" of node_repl__key_line */
	snprintf(l[0], sizeof(l[0]), "stores differ (%s, %s):", me, peer);
	snprintf(l[1], sizeof(l[1]), "only in %s's store:", me);
	snprintf(l[2], sizeof(l[2]), "only in %s's store:", peer);
	snprintf(l[3], sizeof(l[3]), "KDBs differ (%s, %s):", me, peer);
	snprintf(l[4], sizeof(l[4]), "only in %s's KDB:", me);
	snprintf(l[5], sizeof(l[5]), "only in %s's KDB:", peer);
	snprintf(l[6], sizeof(l[6]), "%s: KDB differs from store:", me);
	snprintf(l[7], sizeof(l[7]), "%s: only in its KDB:", me);
	snprintf(l[8], sizeof(l[8]), "%s: only in its store:", me);
	snprintf(l[9], sizeof(l[9]), "%s: KDB differs from store:", peer);
	snprintf(l[10], sizeof(l[10]), "%s: only in its KDB:", peer);
	snprintf(l[11], sizeof(l[11]), "%s: only in its store:", peer);
	for (int i = 0; i < NSRC; i++)
		next(&s[i]);
	for (;;) {
		const uint8_t *h[NSRC] = { NULL, NULL, NULL, NULL };
		ks_view_t key = { 0 };
		bool found = false, any = false, a = false;

		for (int i = 0; i < NSRC; i++)
			if (s[i].have &&
			    (!found || key_cmp(s[i].key, key) < 0)) {
				key = s[i].key;
				found = true;
			}
		if (!found)
			break;
		for (int i = 0; i < NSRC; i++)
			if (s[i].have && key_cmp(s[i].key, key) == 0)
				h[i] = s[i].hash;
		ret = pair(&v->report, key, h[MS], h[TS], l[0], l[1], l[2], &a);
		v->d_store += a;
		any |= a, a = false;
		if (ret == KS_EOK)
			ret = pair(&v->report, key, h[MK], h[TK], l[3], l[4],
				   l[5], &a);
		v->d_kdb += a;
		any |= a, a = false;
		if (ret == KS_EOK)
			ret = pair(&v->report, key, h[MK], h[MS], l[6], l[7],
				   l[8], &a);
		v->d_here += a;
		any |= a, a = false;
		if (ret == KS_EOK)
			ret = pair(&v->report, key, h[TK], h[TS], l[9], l[10],
				   l[11], &a);
		v->d_peer += a;
		any |= a;
		v->differ += any;
		if (ret != KS_EOK)
			return ret;
		/* advance every source past the key (after its last use) */
		for (int i = 0; i < NSRC; i++)
			if (h[i] != NULL)
				next(&s[i]);
	}
	return ret;
}
