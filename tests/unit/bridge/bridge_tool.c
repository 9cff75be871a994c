/* SPDX-License-Identifier: MIT */
/*
 * Test driver for the bridge integration tests (tests/integration/bridge_*.sh):
 * a thin command line over bridge.h so shell scripts can compare its output
 * with the MIT tools.  The realm comes from KRB5_CONFIG/KRB5_KDC_PROFILE.
 *
 *   bridge_tool [-l] records              every record value, KDB order
 *   bridge_tool stamp                     the KDB files' stamp (5 lines)
 *   bridge_tool [-l] scan STOREDIR        scan into the store; prints the
 *                                         logged change set ("PUT key" /
 *                                         "DEL key", one a line)
 *   bridge_tool [-l] load STOREDIR        full load of the store into the KDB
 *   bridge_tool [-l] apply STOREDIR SEQ   apply log entries SEQ.. to the KDB
 *   bridge_tool [-l] get NAME             one principal's record
 *   bridge_tool [-l] capture STOREDIR NAME...  targeted capture in one
 *                                         commit (NAME: a principal;
 *                                         P:NAME / O:NAME typed); prints
 *                                         the logged change set
 *   bridge_tool [-l] storedump STOREDIR   every stored value, key order
 *   bridge_tool [-l] storeinfo STOREDIR   "last_seq N records M"
 *   bridge_tool [-l] loadfail STOREDIR    full load that fails after the
 *                                         records are in the side DB (the
 *                                         live DB must stay untouched)
 *   bridge_tool checklines FILE   parse every line (principal or policy);
 *                                 accepted lines must re-encode to the same
 *                                 bytes; prints "accepted N rejected M"
 *   bridge_tool [-l] applylines FILE  apply every line of FILE as one PUT
 *                                 batch (keys taken from the lines)
 * -l: replicate_lockout = true.  -b N: scan_lock_batch N (relock every N).
 * -r: open the KDB read-only (primary capture).  -p FILE: the KDC profile
 * path (bridge_opts.kdc_profile) instead of $KRB5_KDC_PROFILE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/bridge.h"
#include "bridge/convert.h"
#include "common/errors.h"
#include "common/log.h"
#include "store/store.h"

static int print_record(ks_view_t key, ks_view_t value, void *ctx)
{
	(void)key;
	(void)ctx;
	return fwrite(value.ptr, 1, value.len, stdout) == value.len ? 0
								    : KS_EIO;
}

static void print_key(const char *op, ks_view_t key)
{
	printf("%s %c %.*s\n", op, key.ptr[0], (int)key.len - 1,
	       (const char *)key.ptr + 1);
}

static int print_log(const store_log_entry_t *e, void *ctx)
{
	(void)ctx;
	print_key(e->op == STORE_PUT ? "PUT" : "DEL", e->key);
	return 0;
}

typedef struct collect {
	store_change_t *ch;
	size_t n, cap;
	ks_buf_t arena;
	size_t *offs; /* key off, key len, val off, val len per change */
} collect_t;

static int collect_log(const store_log_entry_t *e, void *arg)
{
	collect_t *c = arg;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->ch = realloc(c->ch, c->cap * sizeof(*c->ch));
		c->offs = realloc(c->offs, c->cap * 4 * sizeof(size_t));
		if (!c->ch || !c->offs)
			return KS_ENOMEM;
	}
	c->ch[c->n].op = e->op;
	c->offs[4 * c->n] = c->arena.len;
	c->offs[4 * c->n + 1] = e->key.len;
	ks_buf_append(&c->arena, e->key.ptr, e->key.len);
	c->offs[4 * c->n + 2] = c->arena.len;
	c->offs[4 * c->n + 3] = e->value.len;
	if (ks_buf_append(&c->arena, e->value.ptr, e->value.len))
		return KS_ENOMEM;
	c->n++;
	return 0;
}

typedef struct lines {
	char **v;
	size_t *len;
	size_t n;
} lines_t;

static int read_lines(const char *path, lines_t *l)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return KS_ENOENT;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->len = realloc(l->len, (l->n + 1) * sizeof(*l->len));
		l->v[l->n] = malloc((size_t)len);
		memcpy(l->v[l->n], line, (size_t)len);
		l->len[l->n++] = (size_t)len;
	}
	free(line);
	fclose(f);
	return KS_EOK;
}

static void free_lines(lines_t *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->len);
}

/* Parse each line; accepted ones must re-encode identically. */
static int check_lines(const char *path)
{
	lines_t l = { 0 };
	krb5_context kc = NULL;
	size_t ok = 0, bad = 0;
	int ret = read_lines(path, &l);
	if (ret == KS_EOK && krb5_init_context(&kc))
		ret = KS_EKRB5;
	ks_log_set_level_all(LOG_CRIT);
	for (size_t i = 0; ret == KS_EOK && i < l.n; i++) {
		ks_buf_t out = KS_BUF_INIT;
		int r;
		if (l.len[i] >= 7 && memcmp(l.v[i], "policy\t", 7) == 0) {
			osa_policy_ent_rec *p = NULL;
			r = bridge_convert_policy_parse(l.v[i], l.len[i], &p);
			if (r == KS_EOK)
				r = bridge_convert_policy_encode(p, &out);
			bridge_convert_policy_free(p);
		} else {
			krb5_db_entry *e = NULL;
			char *name = NULL;
			r = bridge_convert_princ_parse(kc, l.v[i], l.len[i],
						       &e);
			if (r == KS_EOK &&
			    krb5_unparse_name(kc, e->princ, &name) == 0)
				r = bridge_convert_princ_encode(e, name, true,
								&out);
			krb5_free_unparsed_name(kc, name);
			bridge_convert_princ_free(kc, e);
		}
		if (r == KS_EOK) {
			ok++;
			if (out.len != l.len[i] ||
			    memcmp(out.data, l.v[i], out.len)) {
				fprintf(stderr,
					"line %zu accepted but not "
					"canonical\n",
					i + 1);
				ret = KS_EINTERNAL;
			}
		} else if (r == KS_EMALF) {
			bad++;
		} else {
			ret = r;
		}
		ks_buf_free(&out);
	}
	printf("accepted %zu rejected %zu\n", ok, bad);
	if (kc)
		krb5_free_context(kc);
	free_lines(&l);
	return ret;
}

/* Apply every line of a file as one PUT batch. */
static int apply_lines(bridge_t *b, const char *path)
{
	lines_t l = { 0 };
	ks_buf_t keys = KS_BUF_INIT;
	size_t *koff = NULL;
	store_change_t *ch = NULL;
	int ret = read_lines(path, &l);
	if (ret == KS_EOK && l.n) {
		koff = calloc(l.n, sizeof(*koff));
		ch = calloc(l.n, sizeof(*ch));
	}
	for (size_t i = 0; ret == KS_EOK && i < l.n; i++) {
		/* A line whose name cannot be found keys as "P?": apply must
		 * reject it on its own. */
		koff[i] = keys.len;
		ks_view_t v = { (const uint8_t *)l.v[i], l.len[i] };
		if (bridge_record_key(v, &keys) != KS_EOK)
			ks_buf_append(&keys, "P?", 2);
		ch[i].op = STORE_PUT;
		ch[i].value = (ks_view_t){ (const uint8_t *)l.v[i], l.len[i] };
	}
	for (size_t i = 0; ret == KS_EOK && i < l.n; i++)
		ch[i].key =
			(ks_view_t){ keys.data + koff[i],
				     (i + 1 < l.n ? koff[i + 1] : keys.len) -
					     koff[i] };
	if (ret == KS_EOK)
		ret = bridge_apply(b, ch, l.n);
	free(ch);
	free(koff);
	ks_buf_free(&keys);
	free_lines(&l);
	return ret;
}

static int fail_cb(ks_view_t key, ks_view_t value, void *arg)
{
	return bridge_load_put(arg, key, value);
}

int main(int argc, char **argv)
{
	bridge_opts_t o = { 0 };
	int ai = 1;
	for (; ai < argc; ai++) {
		if (strcmp(argv[ai], "-l") == 0) {
			o.replicate_lockout = true;
		} else if (strcmp(argv[ai], "-r") == 0) {
			o.read_only = true;
		} else if (strcmp(argv[ai], "-p") == 0 && ai + 1 < argc) {
			o.kdc_profile = argv[++ai];
		} else if (strcmp(argv[ai], "-b") == 0 && ai + 1 < argc) {
			o.scan_lock_batch =
				(uint32_t)strtoul(argv[++ai], NULL, 10);
		} else {
			break;
		}
	}
	if (ai >= argc) {
		fprintf(stderr, "usage: see the comment in bridge_tool.c\n");
		return 2;
	}
	const char *cmd = argv[ai++];
	if (strcmp(cmd, "checklines") == 0 && ai < argc) {
		int r = check_lines(argv[ai]);
		if (r != KS_EOK)
			fprintf(stderr, "checklines: %s\n", ks_errname(r));
		return r == KS_EOK ? 0 : 1;
	}
	bridge_t *b = NULL;
	store_t *s = NULL;
	store_txn_t *t = NULL;
	int ret = bridge_open(&o, &b);
	if (ret != KS_EOK)
		goto out;
	if (strcmp(cmd, "stamp") == 0) {
		bridge_kdb_stamp_t st;
		ret = bridge_kdb_stamp(b, &st);
		for (int i = 0; ret == KS_EOK && i < 5; i++)
			printf("%llu %llu\n",
			       (unsigned long long)st.principal[i],
			       (unsigned long long)st.policy[i]);
	} else if (strcmp(cmd, "records") == 0) {
		ret = bridge_foreach_record(b, print_record, NULL);
	} else if (strcmp(cmd, "get") == 0 && ai < argc) {
		ks_buf_t v = KS_BUF_INIT;
		ret = bridge_read_principal(b, argv[ai], &v);
		if (ret == KS_EOK)
			fwrite(v.data, 1, v.len, stdout);
		ks_buf_free(&v);
	} else if (strcmp(cmd, "applylines") == 0 && ai < argc) {
		ret = apply_lines(b, argv[ai]);
	} else if (ai < argc) {
		store_opts_t so = { .nosync = true };
		ret = store_open(argv[ai++], &so, &s);
		if (ret != KS_EOK)
			goto out;
		if (strcmp(cmd, "scan") == 0) {
			bridge_scan_stats_t st;
			ret = bridge_scan(b, s, &st);
			if (ret == KS_EOK && st.last_seq >= st.first_seq) {
				ret = store_read_begin(s, &t);
				if (ret == KS_EOK)
					ret = store_log_foreach(t, st.first_seq,
								print_log,
								NULL);
			}
			fprintf(stderr,
				"scan: %llu principals %llu policies %llu puts "
				"%llu dels\n",
				(unsigned long long)st.principals,
				(unsigned long long)st.policies,
				(unsigned long long)st.puts,
				(unsigned long long)st.dels);
		} else if (strcmp(cmd, "capture") == 0 && ai < argc) {
			/* NAME = a principal; P:NAME / O:NAME = typed refs */
			uint64_t f, l;
			size_t n = (size_t)(argc - ai);
			bridge_ref_t *refs = calloc(n, sizeof(*refs));
			for (size_t i = 0; refs && i < n; i++) {
				const char *a = argv[ai + (int)i];
				bool typed = (a[0] == 'P' || a[0] == 'O') &&
					     a[1] == ':';
				refs[i].type = typed ? (uint8_t)a[0]
						     : STORE_KEY_PRINCIPAL;
				refs[i].name = typed ? a + 2 : a;
			}
			ret = refs ? bridge_capture(b, s, refs, n, &f, &l)
				   : KS_ENOMEM;
			free(refs);
			if (ret == KS_EOK && l >= f) {
				ret = store_read_begin(s, &t);
				if (ret == KS_EOK)
					ret = store_log_foreach(t, f, print_log,
								NULL);
			}
		} else if (strcmp(cmd, "storedump") == 0) {
			ret = store_read_begin(s, &t);
			if (ret == KS_EOK)
				ret = store_records_foreach(t, (ks_view_t){ 0 },
							    print_record, NULL);
		} else if (strcmp(cmd, "storeinfo") == 0) {
			store_meta_t m;
			ret = store_read_begin(s, &t);
			if (ret == KS_EOK)
				ret = store_meta_get(t, &m);
			if (ret == KS_EOK)
				printf("last_seq %llu records %llu\n",
				       (unsigned long long)m.last_seq,
				       (unsigned long long)m.record_count);
		} else if (strcmp(cmd, "load") == 0) {
			ret = bridge_load_from_store(b, s);
		} else if (strcmp(cmd, "loadfail") == 0) {
			bridge_load_t *l = NULL;
			ret = bridge_load_begin(b, &l);
			if (ret == KS_EOK)
				ret = store_read_begin(s, &t);
			if (ret == KS_EOK)
				ret = store_records_foreach(t, (ks_view_t){ 0 },
							    fail_cb, l);
			if (ret == KS_EOK) {
				/* A malformed record arrives last. */
				static const char bad[] = "princ\t38\tx;\n";
				ret = bridge_load_put(
					l,
					(ks_view_t){ (const uint8_t *)"Px", 2 },
					(ks_view_t){ (const uint8_t *)bad,
						     sizeof(bad) - 1 });
			}
			if (ret == KS_EOK)
				ret = bridge_load_commit(l);
			else
				bridge_load_abort(l);
			ret = ret == KS_EMALF ? KS_EOK : KS_EINTERNAL;
		} else if (strcmp(cmd, "apply") == 0 && ai < argc) {
			collect_t c = { 0 };
			ret = store_read_begin(s, &t);
			if (ret == KS_EOK)
				ret = store_log_foreach(
					t, strtoull(argv[ai], NULL, 10),
					collect_log, &c);
			for (size_t i = 0; ret == KS_EOK && i < c.n; i++) {
				c.ch[i].key =
					(ks_view_t){ c.arena.data +
							     c.offs[4 * i],
						     c.offs[4 * i + 1] };
				c.ch[i].value =
					(ks_view_t){ c.arena.data +
							     c.offs[4 * i + 2],
						     c.offs[4 * i + 3] };
			}
			if (ret == KS_EOK)
				ret = bridge_apply(b, c.ch, c.n);
			fprintf(stderr, "applied %zu changes\n", c.n);
			free(c.ch);
			free(c.offs);
			ks_buf_free(&c.arena);
		} else {
			ret = KS_EINVAL;
		}
	} else {
		ret = KS_EINVAL;
	}
out:
	if (t)
		store_read_end(t);
	store_close(s);
	bridge_close(b);
	if (ret != KS_EOK) {
		fprintf(stderr, "bridge_tool %s: %s (%s)\n", cmd,
			ks_strerror(ret), ks_errname(ret));
		return ret == KS_ENOENT ? 3 : 1;
	}
	return 0;
}
