/* SPDX-License-Identifier: MIT */
/*
 * Store benchmark: bulk load of N records (~450-byte dump-line values, in
 * random key order as a KDB scan delivers them) in durable batches of
 * 1,000, both through store_commit (logged, the primary's path) and through
 * staging (a snapshot: stage_put, build, promote); 10,000 single-record
 * durable commits; log iteration; the cost of the incremental digest; log
 * trim; a full store_check(); dropping the stale set.  Prints a table and one JSON line; never
 * asserts on time.
 *
 * Usage: store_bench [-s] [-N] [-c COMMITS] [-d DIR] [COUNT]
 *   COUNT  records to load (default 1000000)
 *   -c     records to bulk-load through store_commit (default COUNT)
 *   -s     insert in key order instead of random order (a sorted scan)
 *   -N     MDB_NOSYNC (to see CPU cost without fsync; not the target)
 *   -C     only the bulk load through store_commit (quick measurement)
 *   -d     directory to use (default: a fresh one under $TMPDIR or /tmp,
 *          removed afterwards)
 */
#define _GNU_SOURCE /* nftw, mkdtemp */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/time.h"
#include "store/digest.h"
#include "store/store.h"

#define BATCH	 1000u
#define SINGLES	 10000u
#define VALUE_SZ 450u

typedef struct row {
	const char *name;
	double seconds;
	uint64_t items;
	uint64_t bytes;
} row_t;

static row_t rows[16];
static size_t nrows;

static void add_row(const char *name, uint64_t ns, uint64_t items,
		    uint64_t bytes)
{
	rows[nrows++] = (row_t){ name, (double)ns / 1e9, items, bytes };
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static size_t make_key(char *buf, size_t cap, uint64_t id)
{
	return (size_t)snprintf(buf, cap, "Puser%08llu@EXAMPLE.COM",
				(unsigned long long)id);
}

/* Random hex standing in for key data; values take slices of it. */
static char hex_pool[8192];

static void hex_pool_init(void)
{
	for (size_t i = 0; i < sizeof(hex_pool); i++)
		hex_pool[i] = "0123456789abcdef"[rng() >> 60];
}

/* A line shaped like kdb5_util's "princ" record, VALUE_SZ bytes. */
static size_t make_value(char *buf, uint64_t id, uint64_t version)
{
	int n = snprintf(
		buf, VALUE_SZ + 1,
		"princ\t38\t24\t4\t3\t0\tuser%08llu@EXAMPLE.COM\t4224\t36000\t604800\t0\t0\t0\t%llu\t0\t2\t18\t",
		(unsigned long long)id,
		(unsigned long long)(1700000000u + version));
	size_t fill = VALUE_SZ - 2 - (size_t)n;
	size_t off = (size_t)((id * 131 + version * 17) %
			      (sizeof(hex_pool) - VALUE_SZ));
	memcpy(buf + n, hex_pool + off, fill);
	buf[VALUE_SZ - 2] = '\t';
	buf[VALUE_SZ - 1] = ';';
	return VALUE_SZ;
}

static int cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static int die(const char *what, int ret)
{
	fprintf(stderr, "store_bench: %s failed (%s)\n", what,
		ks_strerror(ret));
	exit(1);
}

struct log_count {
	uint64_t n, bytes;
};

static int log_cb(const store_log_entry_t *e, void *ctx)
{
	struct log_count *c = ctx;
	c->n++;
	c->bytes += e->key.len + e->value.len;
	return 0;
}

static int rm_cb(const char *p, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static uint64_t dir_bytes(const char *dir)
{
	char p[4096];
	struct stat st;
	if (snprintf(p, sizeof(p), "%s/data.mdb", dir) >= (int)sizeof(p))
		return 0;
	return stat(p, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000u, nc = UINT64_MAX;
	char tmpl[4096];
	const char *dir = NULL;
	bool sorted = false, nosync = false, only_commit = false;
	int opt;
	while ((opt = getopt(argc, argv, "sNCc:d:")) != -1) {
		switch (opt) {
		case 's':
			sorted = true;
			break;
		case 'N':
			nosync = true;
			break;
		case 'C':
			only_commit = true;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'c':
			nc = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-s] [-N] [-C] [-c COMMITS] [-d DIR] [COUNT]\n",
				argv[0]);
			return 2;
		}
	}
	if (optind < argc)
		n = strtoull(argv[optind], NULL, 10);
	bool own_dir = dir == NULL;
	if (n < BATCH)
		n = BATCH;
	if (nc > n)
		nc = n;
	if (nc < BATCH)
		nc = BATCH;
	hex_pool_init();
	if (own_dir) {
		const char *tmp = getenv("TMPDIR");
		snprintf(tmpl, sizeof(tmpl), "%s/ks-store-bench-XXXXXX",
			 tmp ? tmp : "/tmp");
		if (!mkdtemp(tmpl)) {
			perror("mkdtemp");
			return 1;
		}
		dir = tmpl;
	}
	ks_log_set_level_all(LOG_WARNING);

	store_t *s;
	store_opts_t so = { .nosync = nosync };
	int ret = store_open(dir, &so, &s);
	if (ret)
		die("store_open", ret);

	/* random insertion order, as a KDB scan hands records over */
	uint64_t *order = malloc(n * sizeof(*order));
	store_change_t *ch = calloc(BATCH, sizeof(*ch));
	char *keys = malloc(BATCH * 48), *vals = malloc(BATCH * VALUE_SZ);
	if (!order || !ch || !keys || !vals)
		die("malloc", KS_ENOMEM);
	for (uint64_t i = 0; i < n; i++)
		order[i] = i;
	for (uint64_t i = n - 1; !sorted && i > 0; i--) {
		uint64_t j = rng() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}

	/* 1. bulk load through store_commit (logged), durable 1,000/txn */
	uint64_t t0 = ks_mono_ns();
	for (uint64_t base = 0; base < nc; base += BATCH) {
		size_t m = nc - base < BATCH ? (size_t)(nc - base) : BATCH;
		for (size_t i = 0; i < m; i++) {
			char *k = keys + i * 48, *v = vals + i * VALUE_SZ;
			size_t kl = make_key(k, 48, order[base + i]);
			size_t vl = make_value(v, order[base + i], 0);
			ch[i] = (store_change_t){
				.op = STORE_PUT,
				.key = { (const uint8_t *)k, kl },
				.value = { (const uint8_t *)v, vl },
			};
		}
		if ((ret = store_commit(s, ch, m, ks_real_us(), NULL, NULL)))
			die("bulk commit", ret);
	}
	uint64_t bulk_ns = ks_mono_ns() - t0;
	add_row("bulk load via store_commit (logged)", bulk_ns, nc,
		nc * VALUE_SZ);
	if (only_commit) {
		printf("bulk load via store_commit: %llu records, %s, %s: %.3f s (data.mdb %.1f MB)\n",
		       (unsigned long long)nc, sorted ? "sorted" : "random",
		       nosync ? "NOSYNC" : "durable", (double)bulk_ns / 1e9,
		       (double)dir_bytes(dir) / 1e6);
		store_close(s);
		if (own_dir)
			nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		free(order);
		free(ch);
		free(keys);
		free(vals);
		return 0;
	}

	/* 2. single-record durable commits (modifications) */
	uint64_t *lat = malloc(SINGLES * sizeof(*lat));
	if (!lat)
		die("malloc", KS_ENOMEM);
	t0 = ks_mono_ns();
	for (uint64_t i = 0; i < SINGLES; i++) {
		uint64_t id = order[rng() % nc];
		size_t kl = make_key(keys, 48, id);
		size_t vl = make_value(vals, id, i + 1);
		store_change_t c = { .op = STORE_PUT,
				     .key = { (const uint8_t *)keys, kl },
				     .value = { (const uint8_t *)vals, vl } };
		uint64_t a = ks_mono_ns();
		if ((ret = store_commit(s, &c, 1, ks_real_us(), NULL, NULL)))
			die("single commit", ret);
		lat[i] = ks_mono_ns() - a;
	}
	uint64_t single_ns = ks_mono_ns() - t0;
	add_row("single-record commits (durable)", single_ns, SINGLES,
		SINGLES * VALUE_SZ);
	qsort(lat, SINGLES, sizeof(*lat), cmp);
	double p50 = (double)lat[SINGLES / 2] / 1e3;
	double p99 = (double)lat[SINGLES * 99 / 100] / 1e3;

	/* 3. log iteration from the oldest entry */
	store_txn_t *t;
	store_meta_t meta;
	struct log_count lc = { 0, 0 };
	if ((ret = store_read_begin(s, &t)) || (ret = store_meta_get(t, &meta)))
		die("read", ret);
	t0 = ks_mono_ns();
	if ((ret = store_log_foreach(t, meta.oldest_seq, log_cb, &lc)))
		die("log_foreach", ret);
	uint64_t log_ns = ks_mono_ns() - t0;
	add_row("log iteration", log_ns, lc.n, lc.bytes);
	/* range digest over all buckets */
	uint8_t dg[32];
	t0 = ks_mono_ns();
	for (int i = 0; i < 100; i++)
		if ((ret = store_range_digest(t, 0, STORE_BUCKETS, dg, NULL)))
			die("range_digest", ret);
	uint64_t range_ns = (ks_mono_ns() - t0) / 100;
	add_row("range digest, all 1024 buckets", range_ns, 1, 0);
	store_read_end(t);

	/* 4. digest update cost: record hash + 256-bit add per change */
	dg_ctx_t *dgc;
	if ((ret = dg_ctx_new(&dgc)))
		die("dg_ctx_new", ret);
	dg256_t acc = { { 0 } };
	uint8_t h[32];
	t0 = ks_mono_ns();
	for (uint64_t i = 0; i < n; i++) {
		size_t kl = make_key(keys, 48, i);
		size_t vl = make_value(vals, i, 0);
		dg256_t x;
		if ((ret = dg_record_hash(
			     dgc, (ks_view_t){ (uint8_t *)keys, kl },
			     (ks_view_t){ (uint8_t *)vals, vl }, h)))
			die("hash", ret);
		dg_from_bytes(&x, h);
		dg_add(&acc, &x);
	}
	uint64_t hash_ns = ks_mono_ns() - t0;
	/* the same loop without hashing, to subtract value generation */
	t0 = ks_mono_ns();
	uint64_t sink = 0;
	for (uint64_t i = 0; i < n; i++) {
		make_key(keys, 48, i);
		make_value(vals, i, 0);
		sink += (uint8_t)vals[i % VALUE_SZ];
	}
	uint64_t gen_ns = ks_mono_ns() - t0;
	uint64_t digest_ns = hash_ns > gen_ns ? hash_ns - gen_ns : 0;
	add_row("digest update (hash+add) per record", digest_ns, n,
		n * VALUE_SZ);
	dg_ctx_free(dgc);

	/* 5. trim the log down to the last 10,000 entries */
	store_close(s);
	store_opts_t o = { .retain_count = SINGLES, .nosync = nosync };
	if ((ret = store_open(dir, &o, &s)))
		die("store_open", ret);
	t0 = ks_mono_ns();
	if ((ret = store_log_trim(s, UINT64_MAX)))
		die("log_trim", ret);
	uint64_t trim_ns = ks_mono_ns() - t0;
	add_row("log trim to 10,000 entries", trim_ns, lc.n - SINGLES,
		lc.bytes);

	/* 6. bulk load through staging (a snapshot): stage_put 1,000/txn
	 * durable in the same random order, build, promote */
	uint64_t ts = ks_mono_ns();
	if ((ret = store_stage_begin(s)))
		die("stage_begin", ret);
	for (uint64_t base = 0; base < n; base += BATCH) {
		size_t m = n - base < BATCH ? (size_t)(n - base) : BATCH;
		for (size_t i = 0; i < m; i++) {
			char *k = keys + i * 48, *v = vals + i * VALUE_SZ;
			size_t kl = make_key(k, 48, order[base + i]);
			size_t vl = make_value(v, order[base + i], 9);
			ch[i] = (store_change_t){
				.op = STORE_PUT,
				.key = { (const uint8_t *)k, kl },
				.value = { (const uint8_t *)v, vl },
			};
		}
		if ((ret = store_stage_put(s, ch, m)))
			die("stage_put", ret);
	}
	uint64_t put_ns = ks_mono_ns() - ts;
	add_row("  staging: stage_put (1000/txn, durable)", put_ns, n,
		n * VALUE_SZ);
	uint8_t sd[32], hist[16];
	memset(hist, 0x5a, sizeof(hist));
	t0 = ks_mono_ns();
	if ((ret = store_stage_info(s, sd, NULL)))
		die("stage_info", ret);
	uint64_t build_ns = ks_mono_ns() - t0;
	add_row("  staging: build set in key order", build_ns, n, n * VALUE_SZ);
	t0 = ks_mono_ns();
	if ((ret = store_stage_install(s, hist, 1, sd)))
		die("stage_install", ret);
	uint64_t promote_ns = ks_mono_ns() - t0;
	add_row("  staging: promote (one txn)", promote_ns, 1, 0);
	uint64_t stage_ns = ks_mono_ns() - ts;
	add_row("bulk load via staging, total", stage_ns, n, n * VALUE_SZ);

	t0 = ks_mono_ns();
	if ((ret = store_check(s)))
		die("store_check", ret);
	uint64_t check_ns = ks_mono_ns() - t0;
	add_row("store_check (full verification)", check_ns, n, 0);
	uint64_t disk = dir_bytes(dir);
	/* the next staging first drops the stale (previously live) set */
	t0 = ks_mono_ns();
	if ((ret = store_stage_abort(s)))
		die("stage_abort", ret);
	uint64_t drop_ns = ks_mono_ns() - t0;
	add_row("drop stale set (stage_abort, one txn)", drop_ns, nc, 0);

	store_close(s);
	if (own_dir)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);

	printf("store benchmark: %llu records of %u bytes (%llu through store_commit), batches of %u, %s commits, %s key order\n",
	       (unsigned long long)n, VALUE_SZ, (unsigned long long)nc, BATCH,
	       nosync ? "NOSYNC" : "durable", sorted ? "sorted" : "random");
	printf("%-42s %10s %12s %12s %10s\n", "measure", "seconds", "items",
	       "items/s", "MB/s");
	for (size_t i = 0; i < nrows; i++) {
		const row_t *r = &rows[i];
		double ips = r->seconds > 0 ? (double)r->items / r->seconds : 0;
		double mbs = r->seconds > 0
				     ? (double)r->bytes / r->seconds / 1e6
				     : 0;
		printf("%-42s %10.3f %12llu %12.0f %10.1f\n", r->name,
		       r->seconds, (unsigned long long)r->items, ips, mbs);
	}
	printf("single commit latency: p50 %.0f us, p99 %.0f us\n", p50, p99);
	printf("digest cost: %.0f ns per record (%.1f%% of the store_commit bulk load)\n",
	       (double)digest_ns / (double)n,
	       100.0 * (double)digest_ns / (double)n * (double)nc /
		       (double)bulk_ns);
	printf("data.mdb blocks on disk before the stale set was dropped: %.1f MB\n",
	       (double)disk / 1e6);
	printf("{\"bench\":\"store\",\"records\":%llu,\"commit_records\":%llu,"
	       "\"value_bytes\":%u,\"sorted\":%s,\"nosync\":%s,"
	       "\"commit_bulk_s\":%.3f,\"stage_bulk_s\":%.3f,"
	       "\"stage_put_s\":%.3f,\"stage_build_s\":%.3f,"
	       "\"promote_ms\":%.3f,\"single_commits_per_s\":%.0f,"
	       "\"single_p50_us\":%.0f,\"single_p99_us\":%.0f,"
	       "\"log_iter_entries_per_s\":%.0f,\"digest_ns_per_record\":%.0f,"
	       "\"range_digest_all_us\":%.1f,\"trim_s\":%.3f,"
	       "\"check_s\":%.3f,\"drop_stale_s\":%.3f,\"disk_mb\":%.1f,"
	       "\"sink\":%llu}\n",
	       (unsigned long long)n, (unsigned long long)nc, VALUE_SZ,
	       sorted ? "true" : "false", nosync ? "true" : "false",
	       (double)bulk_ns / 1e9, (double)stage_ns / 1e9,
	       (double)put_ns / 1e9, (double)build_ns / 1e9,
	       (double)promote_ns / 1e6, SINGLES / ((double)single_ns / 1e9),
	       p50, p99, (double)lc.n / ((double)log_ns / 1e9),
	       (double)digest_ns / (double)n, (double)range_ns / 1e3,
	       (double)trim_ns / 1e9, (double)check_ns / 1e9,
	       (double)drop_ns / 1e9, (double)disk / 1e6,
	       (unsigned long long)(sink & 1));
	free(order);
	free(ch);
	free(keys);
	free(vals);
	free(lat);
	return 0;
}
