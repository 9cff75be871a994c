/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the input is a program of store operations (commit,
 * replica apply with arbitrary history/seq, staging and promotion with a
 * right or wrong digest, trim, acks, new/adopted history ids, reopen) run
 * against a fresh real LMDB store.  After every operation store_check()
 * must pass, a refused operation must change nothing, and the live record
 * set must equal a byte-level model.  Any violation aborts.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/store.h"

#define NKEYS 16

typedef struct model {
	bool present[NKEYS];
	uint8_t val[NKEYS][64];
	size_t len[NKEYS];
	uint64_t count;
} model_t;

static char *dir;
/* Keys 0..9 short; 10..15 longer than LMDB keys or sharing their first
 * 478 bytes (store.h, "Long keys"), so every path handles both forms. */
static uint8_t key_buf[NKEYS][2100];
static size_t key_len[NKEYS];

static void die(const char *what, int ret)
{
	fprintf(stderr, "store_ops_fuzz: %s (%s)\n", what, ks_errname(ret));
	abort();
}

static int rm_cb(const char *p, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return ftw->level > 0 ? remove(p) : 0;
}

static int rm_all_cb(const char *p, const struct stat *st, int flag,
		     struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	if (dir)
		nftw(dir, rm_all_cb, 4, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static char tmpl[] = "/tmp/ks-store-fuzz-XXXXXX";
	dir = mkdtemp(tmpl);
	if (!dir)
		abort();
	atexit(cleanup);
	static const size_t lens[NKEYS - 10] = {
		479, 511, 511, 600, 601, 2000
	};
	for (int i = 0; i < NKEYS; i++) {
		if (i < 10) {
			key_len[i] = (size_t)snprintf((char *)key_buf[i], 8,
						      "Pk%02d", i);
			continue;
		}
		key_len[i] = lens[i - 10];
		memset(key_buf[i], 'x', key_len[i]);
		key_buf[i][0] = 'P';
		key_buf[i][key_len[i] - 1] = (uint8_t)('a' + i);
	}
	key_buf[12][478] = 0; /* 511 bytes, long form */
	ks_log_set_level_all(LOG_CRIT);
	return 0;
}

static ks_view_t key_of(unsigned id)
{
	return (ks_view_t){ key_buf[id], key_len[id] };
}

static void meta(store_t *s, store_meta_t *m)
{
	store_txn_t *t;
	int ret = store_read_begin(s, &t);
	if (ret)
		die("read_begin", ret);
	store_meta_get(t, m);
	store_read_end(t);
}

static void check(store_t *s, const model_t *m)
{
	int ret = store_check(s);
	if (ret)
		die("store_check", ret);
	store_txn_t *t;
	store_meta_t sm;
	if ((ret = store_read_begin(s, &t)))
		die("read_begin", ret);
	store_meta_get(t, &sm);
	if (sm.record_count != m->count)
		die("record count differs from model", KS_ECORRUPT);
	for (unsigned i = 0; i < NKEYS; i++) {
		ks_view_t v;
		ret = store_get(t, key_of(i), &v);
		if (m->present[i] != (ret == 0))
			die("presence differs from model", ret);
		if (ret == 0 && (v.len != m->len[i] ||
				 (v.len && memcmp(v.ptr, m->val[i], v.len))))
			die("value differs from model", KS_ECORRUPT);
	}
	store_read_end(t);
}

static void model_change(model_t *m, const store_change_t *c, unsigned id)
{
	if (c->op == STORE_PUT) {
		if (!m->present[id])
			m->count++;
		m->present[id] = true;
		m->len[id] = c->value.len;
		memcpy(m->val[id], c->value.ptr, c->value.len);
	} else if (m->present[id]) {
		m->present[id] = false;
		m->count--;
	}
}

static int log_cb(const store_log_entry_t *e, void *ctx)
{
	uint64_t *next = ctx;
	bool known = false;
	for (unsigned i = 0; i < NKEYS && !known; i++)
		known = e->key.len == key_len[i] &&
			memcmp(e->key.ptr, key_buf[i], key_len[i]) == 0;
	if (e->seq != *next || !known ||
	    (e->op == STORE_DEL && e->value.len != 0))
		die("log entry out of order or malformed", KS_ECORRUPT);
	(*next)++;
	return 0;
}

/* Decode up to 8 changes; values are borrowed from the input. */
static size_t read_changes(ks_wire_t *w, store_change_t *ch, unsigned *ids,
			   bool puts_only)
{
	size_t n = ks_wire_read_u8(w) % 9;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = ks_wire_read_u8(w);
		ids[i] = b % NKEYS;
		ch[i].key = key_of(ids[i]);
		ch[i].op = (puts_only || !(b & 0x80)) ? STORE_PUT : STORE_DEL;
		size_t len = ks_wire_read_u8(w) % 64;
		const uint8_t *p = ks_wire_read_view(w, len);
		ch[i].value = (ks_view_t){ p, p ? len : 0 };
	}
	return w->err ? 0 : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	store_opts_t o = { .map_size = 256 << 10,
			   .retain_count = 8,
			   .nosync = true };
	store_t *s = NULL;
	model_t m = { .count = 0 };
	ks_wire_t w = ks_wire_reader(data, size);
	store_change_t ch[8];
	unsigned ids[8];
	uint8_t hist[16];
	nftw(dir, rm_cb, 4, FTW_DEPTH | FTW_PHYS);
	int ret = store_open(dir, &o, &s);
	if (ret)
		die("store_open", ret);
	for (int step = 0; step < 64 && ks_wire_left(&w) > 0; step++) {
		uint8_t op = ks_wire_read_u8(&w);
		store_meta_t before, after;
		meta(s, &before);
		switch (op % 9) {
		case 0: { /* primary commit */
			size_t n = read_changes(&w, ch, ids, false);
			uint64_t f, l;
			if ((ret = store_commit(s, ch, n, 1, &f, &l)))
				die("commit", ret);
			for (size_t i = 0; i < n; i++)
				model_change(&m, &ch[i], ids[i]);
			if (f != before.last_seq + 1 || l < before.last_seq)
				die("commit seq range", KS_ECORRUPT);
			break;
		}
		case 1: { /* replica apply, possibly a gap or a foreign id */
			uint8_t sel = ks_wire_read_u8(&w);
			size_t n = read_changes(&w, ch, ids, false);
			store_batch_t b = { .first_seq = before.applied_seq +
							 1 + (sel & 3) - 1,
					    .ch = ch,
					    .n = n };
			memcpy(b.history,
			       (sel & 4) ? before.history
					 : before.applied_history,
			       16);
			ret = store_apply(s, &b);
			if (ret == 0) {
				for (size_t i = 0; i < n; i++)
					model_change(&m, &ch[i], ids[i]);
			} else {
				meta(s, &after);
				if (memcmp(&before, &after, sizeof(before)))
					die("refused apply changed meta", ret);
			}
			break;
		}
		case 2: { /* snapshot: stage, promote with right/wrong digest */
			uint8_t sel = ks_wire_read_u8(&w);
			model_t staged = { .count = 0 };
			if ((ret = store_stage_begin(s)))
				die("stage_begin", ret);
			size_t n = read_changes(&w, ch, ids, true);
			if ((ret = store_stage_put(s, ch, n)))
				die("stage_put", ret);
			for (size_t i = 0; i < n; i++)
				model_change(&staged, &ch[i], ids[i]);
			uint8_t dg[32];
			if ((ret = store_stage_info(s, dg, NULL)))
				die("stage_info", ret);
			if (sel & 1)
				dg[sel % 32] ^= 1;
			memset(hist, 0, sizeof(hist));
			hist[0] = (uint8_t)(sel | 1);
			ret = store_stage_install(s, hist, sel >> 1, dg);
			if ((sel & 1) && ret != KS_EDIGEST)
				die("wrong digest accepted", ret);
			if (!(sel & 1) && ret != 0)
				die("promote", ret);
			if (ret == 0)
				m = staged;
			break;
		}
		case 3:
			if ((ret = store_log_trim(s, ks_wire_read_u8(&w))))
				die("trim", ret);
			break;
		case 4:
			if ((ret = store_peer_ack(s, "peer",
						  ks_wire_read_u8(&w))))
				die("ack", ret);
			break;
		case 5:
			if ((ret = store_new_history(s)))
				die("new_history", ret);
			break;
		case 6: { /* adopt: as if the primary was promoted */
			uint8_t sel = ks_wire_read_u8(&w);
			memset(hist, 0xee, sizeof(hist));
			hist[0] = sel;
			ret = store_adopt_history(
				s, hist, before.applied_history,
				before.applied_seq + (sel & 1));
			if (ret) {
				meta(s, &after);
				if (memcmp(&before, &after, sizeof(before)))
					die("refused adopt changed meta", ret);
			}
			break;
		}
		case 7: { /* log read from an arbitrary seq */
			store_txn_t *t;
			uint64_t from =
				before.oldest_seq + ks_wire_read_u8(&w) - 2;
			if ((ret = store_read_begin(s, &t)))
				die("read_begin", ret);
			uint64_t next = from;
			ret = store_log_foreach(t, from, log_cb, &next);
			if (ret == 0 && next != before.last_seq + 1)
				die("log iteration ended early", KS_ECORRUPT);
			if (ret != 0 && ret != KS_ESTALE && ret != KS_ERANGE)
				die("log_foreach", ret);
			store_read_end(t);
			break;
		}
		default: /* reopen */
			store_close(s);
			if ((ret = store_open(dir, &o, &s)))
				die("reopen", ret);
			break;
		}
		check(s, &m);
	}
	store_close(s);
	return 0;
}
