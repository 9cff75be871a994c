/* SPDX-License-Identifier: MIT */
/*
 * Bridge benchmark: scan (first and no-change rescan) and full load of N
 * principals, side by side with `kdb5_util dump` and `kdb5_util load` on the
 * same database in the same run.  Prints a table with ratios and one JSON
 * object; never asserts on time.
 *
 *   bridge_bench [-n N[,N...]] [-d DIR] [-k]
 *     -n  principal counts (default 100000)
 *     -d  work directory (default: a new one under $TMPDIR); removed unless -k
 *
 * Set-up per N, in a throw-away realm (own kdc.conf/krb5.conf, never the
 * system paths): one principal is made with kadmin.local (password, policy,
 * +requires_preauth, two AES keys) and replicated under N names through the
 * bridge's own encoder into a version 7 dump, which `kdb5_util load` makes
 * into the DB (as the measurements in kprop.md §5.2 were made).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <krb5.h>
#include <kdb.h>

#include "bridge/bridge.h"
#include "bridge/convert.h"
#include "common/errors.h"
#include "common/log.h"
#include "store/store.h"

extern char **environ;

#define REALM "BENCH.TEST"

/* Heap "dir/leaf"; aborts on OOM (a bench, not a library). */
static char *join(const char *dir, const char *leaf)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", dir, leaf) < 0)
		abort();
	return p;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run argv with stdout to \p out (NULL = inherit), stdin from \p in. */
static int run(char *const argv[], const char *in, const char *out)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (in)
		posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
	if (out)
		posix_spawn_file_actions_addopen(
			&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(rc));
		return -1;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "%s %s failed\n", argv[0],
			argv[1] ? argv[1] : "");
		return -1;
	}
	return 0;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int make_realm(const char *dir)
{
	char *text = NULL, *path;
	if (asprintf(&text,
		     "[libdefaults]\n\tdefault_realm = %s\n\tdns_lookup_kdc = "
		     "false\n[realms]\n\t%s = {\n\t\tkdc = 127.0.0.1:1\n\t}\n",
		     REALM, REALM) < 0)
		abort();
	path = join(dir, "krb5.conf");
	int rc = write_file(path, text);
	setenv("KRB5_CONFIG", path, 1);
	free(path);
	free(text);
	if (asprintf(&text,
		     "[realms]\n\t%s = {\n\t\tdatabase_name = %s/principal\n"
		     "\t\tkey_stash_file = %s/stash\n\t\tacl_file = %s/acl\n"
		     "\t\tmaster_key_type = aes256-cts-hmac-sha1-96\n"
		     "\t\tsupported_enctypes = aes256-cts-hmac-sha1-96:normal "
		     "aes128-cts-hmac-sha1-96:normal\n\t}\n"
		     "[logging]\n\tdefault = FILE:%s/krb5.log\n",
		     REALM, dir, dir, dir, dir) < 0)
		abort();
	path = join(dir, "kdc.conf");
	rc |= write_file(path, text);
	setenv("KRB5_KDC_PROFILE", path, 1);
	free(path);
	free(text);
	if (rc)
		return -1;
	char *create[] = { "kdb5_util", "-r", REALM,	   "create",
			   "-s",	"-P", "bench-mpw", NULL };
	char *pol[] = { "kadmin.local",
			"-r",
			REALM,
			"-q",
			"addpol -maxfailure 5 -failurecountinterval 60 "
			"-lockoutduration 300 lockpol",
			NULL };
	char *add[] = { "kadmin.local",
			"-r",
			REALM,
			"-q",
			"addprinc -pw Bench-pw-1 -policy lockpol "
			"+requires_preauth template",
			NULL };
	return run(create, "/dev/null", "/dev/null") ||
	       run(pol, "/dev/null", "/dev/null") ||
	       run(add, "/dev/null", "/dev/null");
}

/* Write DIR/gen.dump: the realm's records plus n copies of "template". */
static int make_dump(const char *dir, krb5_context ctx, long n)
{
	char *small = join(dir, "small.dump"), *gen = join(dir, "gen.dump");
	char *dump[] = { "kdb5_util", "-r", REALM, "dump", small, NULL };
	FILE *in = NULL, *out = NULL;
	if (run(dump, "/dev/null", "/dev/null") == 0) {
		in = fopen(small, "r");
		out = fopen(gen, "w");
	}
	free(small);
	free(gen);
	if (!in || !out)
		return -1;
	char *line = NULL, *tmpl = NULL;
	size_t cap = 0, tlen = 0;
	ssize_t len;
	ks_buf_t pols = KS_BUF_INIT;
	while ((len = getline(&line, &cap, in)) > 0) {
		if (strncmp(line, "policy\t", 7) == 0) {
			ks_buf_append(&pols, line, (size_t)len);
			continue;
		}
		fwrite(line, 1, (size_t)len, out);
		if (strstr(line, "\ttemplate@" REALM "\t")) {
			tmpl = strndup(line, (size_t)len);
			tlen = (size_t)len;
		}
	}
	int ret = -1;
	krb5_db_entry *e = NULL;
	ks_buf_t rec = KS_BUF_INIT;
	if (tmpl == NULL ||
	    bridge_convert_princ_parse(ctx, tmpl, tlen, &e) != KS_EOK)
		goto out;
	for (long i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "user%07ld@%s", i, REALM);
		krb5_free_principal(ctx, e->princ);
		e->princ = NULL;
		if (krb5_parse_name(ctx, name, &e->princ))
			goto out;
		ks_buf_reset(&rec);
		if (bridge_convert_princ_encode(e, name, true, &rec))
			goto out;
		fwrite(rec.data, 1, rec.len, out);
	}
	fwrite(pols.data, 1, pols.len, out);
	ret = 0;
out:
	bridge_convert_princ_free(ctx, e);
	ks_buf_free(&rec);
	ks_buf_free(&pols);
	free(tmpl);
	free(line);
	fclose(in);
	if (fclose(out))
		ret = -1;
	return ret;
}

/* Records of user0..user(k-1) with max_life changed, as PUT changes. */
static int modified_changes(krb5_context ctx, long k, int bump, ks_buf_t *arena,
			    store_change_t **out)
{
	store_change_t *ch = calloc((size_t)k, sizeof(*ch));
	size_t *offs = calloc((size_t)k * 4, sizeof(*offs));
	int ret = -1;
	if (!ch || !offs)
		goto out;
	for (long i = 0; i < k; i++) {
		char name[64];
		snprintf(name, sizeof(name), "user%07ld@%s", i, REALM);
		krb5_db_entry *e = calloc(1, sizeof(*e));
		if (e == NULL || krb5_parse_name(ctx, name, &e->princ))
			goto out;
		e->len = KRB5_KDB_V1_BASE_LENGTH;
		e->attributes = KRB5_KDB_REQUIRES_PRE_AUTH;
		e->max_life = 3600 * (bump + 1);
		offs[4 * i] = arena->len;
		ks_buf_append_u8(arena, STORE_KEY_PRINCIPAL);
		ks_buf_append(arena, name, strlen(name));
		offs[4 * i + 1] = arena->len - offs[4 * i];
		offs[4 * i + 2] = arena->len;
		int rc = bridge_convert_princ_encode(e, name, false, arena);
		bridge_convert_princ_free(ctx, e);
		if (rc)
			goto out;
		offs[4 * i + 3] = arena->len - offs[4 * i + 2];
	}
	for (long i = 0; i < k; i++) {
		ch[i].op = STORE_PUT;
		ch[i].key = (ks_view_t){ arena->data + offs[4 * i],
					 offs[4 * i + 1] };
		ch[i].value = (ks_view_t){ arena->data + offs[4 * i + 2],
					   offs[4 * i + 3] };
	}
	*out = ch;
	ch = NULL;
	ret = 0;
out:
	free(ch);
	free(offs);
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define APPLY_ONE_RUNS	 1000
#define APPLY_BATCH_SIZE 10000

typedef struct result {
	long n;
	double apply1_p50, apply1_p99, apply_batch, scan_changed;
	double lock_max_batch, lock_max_hold; /* longest DB lock hold, s */
	double kdb_load, kdb_dump, scan_first, scan_again, scan_hold,
		bridge_load;
	uint64_t dump_bytes;
	double bridge_load_nra; /* full load with replicate_lockout = false */
	bool verified; /* kdb5_util dump after the bridge loads == before */
} result_t;

static int bench_one(const char *root, long n, result_t *r)
{
	char leaf[32];
	snprintf(leaf, sizeof(leaf), "n%ld", n);
	char *dir = join(root, leaf);
	mkdir(dir, 0700);
	char *storedir = join(dir, "store"), *path = join(dir, "gen.dump"),
	     *out = join(dir, "out.dump");
	bridge_t *b = NULL;
	store_t *s = NULL;
	int ret = -1;
	r->n = n;
	if (make_realm(dir))
		goto fail;
	krb5_context ctx;
	if (krb5_init_context(&ctx))
		goto fail;
	int rc = make_dump(dir, ctx, n);
	krb5_free_context(ctx);
	if (rc)
		goto fail;

	/* kdb5_util load (temp DB + promote), then kdb5_util dump. */
	char *load[] = { "kdb5_util", "-r", REALM, "load", path, NULL };
	double t0 = now_s();
	if (run(load, "/dev/null", "/dev/null"))
		goto fail;
	r->kdb_load = now_s() - t0;
	char *dump[] = { "kdb5_util", "-r", REALM, "dump", out, NULL };
	t0 = now_s();
	if (run(dump, "/dev/null", "/dev/null"))
		goto fail;
	r->kdb_dump = now_s() - t0;
	struct stat st;
	r->dump_bytes = stat(out, &st) == 0 ? (uint64_t)st.st_size : 0;

	/* The bridge on the same DB. */
	bridge_opts_t o = { .replicate_lockout = true };
	bridge_scan_stats_t ss;
	if (bridge_open(&o, &b) || store_open(storedir, NULL, &s))
		goto fail;
	t0 = now_s();
	if (bridge_scan(b, s, &ss))
		goto fail;
	r->scan_first = now_s() - t0;
	if (ss.puts < (uint64_t)n)
		goto fail;
	t0 = now_s();
	if (bridge_scan(b, s, &ss))
		goto fail;
	r->scan_again = now_s() - t0;
	r->lock_max_batch = (double)ss.max_lock_us / 1e6;
	if (ss.puts || ss.dels)
		goto fail;
	bridge_close(b);
	b = NULL;
	/* Same rescan, lock held for the whole iteration. */
	o.scan_lock_batch = UINT32_MAX;
	if (bridge_open(&o, &b))
		goto fail;
	t0 = now_s();
	if (bridge_scan(b, s, &ss))
		goto fail;
	r->scan_hold = now_s() - t0;
	r->lock_max_hold = (double)ss.max_lock_us / 1e6;

	/* Incremental apply: single changes, then one batch of 10,000,
	 * then the scan that finds those changes. */
	{
		krb5_context kc;
		ks_buf_t arena = KS_BUF_INIT;
		store_change_t *ch = NULL;
		double lat[APPLY_ONE_RUNS];
		long k = n < APPLY_BATCH_SIZE ? n : APPLY_BATCH_SIZE;
		if (krb5_init_context(&kc))
			goto fail;
		rc = modified_changes(kc, k, 1, &arena, &ch);
		for (int i = 0; rc == 0 && i < APPLY_ONE_RUNS; i++) {
			double a = now_s();
			rc = bridge_apply(b, &ch[i % k], 1);
			lat[i] = now_s() - a;
		}
		free(ch);
		ch = NULL;
		ks_buf_reset(&arena);
		if (rc == 0)
			rc = modified_changes(kc, k, 2, &arena, &ch);
		if (rc == 0) {
			t0 = now_s();
			rc = bridge_apply(b, ch, (size_t)k);
			r->apply_batch = now_s() - t0;
		}
		free(ch);
		ks_buf_free(&arena);
		krb5_free_context(kc);
		if (rc)
			goto fail;
		qsort(lat, APPLY_ONE_RUNS, sizeof(lat[0]), cmp_double);
		r->apply1_p50 = lat[APPLY_ONE_RUNS / 2];
		r->apply1_p99 = lat[APPLY_ONE_RUNS * 99 / 100];
		t0 = now_s();
		if (bridge_scan(b, s, &ss))
			goto fail;
		r->scan_changed = now_s() - t0;
		if (ss.puts != (uint64_t)k)
			goto fail;
	}
	/* Reference dump of the DB the store now mirrors (untimed). */
	{
		char *reout = join(dir, "rescan.dump");
		char *d3[] = { "kdb5_util", "-r", REALM, "dump", reout, NULL };
		rc = run(d3, "/dev/null", "/dev/null");
		if (rc == 0)
			rename(reout, out);
		free(reout);
		if (rc)
			goto fail;
	}
	t0 = now_s();
	if (bridge_load_from_store(b, s))
		goto fail;
	r->bridge_load = now_s() - t0;
	/* The loaded DB must dump exactly as it did before the load. */
	char *again = join(dir, "again.dump");
	char *dump2[] = { "kdb5_util", "-r", REALM, "dump", again, NULL };
	char *cmp[] = { "cmp", "-s", out, again, NULL };
	r->verified = run(dump2, "/dev/null", "/dev/null") == 0 &&
		      run(cmp, NULL, NULL) == 0;
	/* The default, replicate_lockout = false: the promote also merges
	 * the live lockout fields (merge_nra) into the new DB. */
	bridge_close(b);
	b = NULL;
	bridge_opts_t dflt = { 0 };
	if (bridge_open(&dflt, &b))
		goto fail_again;
	t0 = now_s();
	if (bridge_load_from_store(b, s))
		goto fail_again;
	r->bridge_load_nra = now_s() - t0;
	r->verified = r->verified &&
		      run(dump2, "/dev/null", "/dev/null") == 0 &&
		      run(cmp, NULL, NULL) == 0;
	free(again);
	ret = 0;
	goto fail;
fail_again:
	free(again);
fail:
	if (ret)
		fprintf(stderr, "bench step failed for n=%ld\n", n);
	bridge_close(b);
	store_close(s);
	free(dir);
	free(storedir);
	free(path);
	free(out);
	return ret;
}

static int rm_tree(const char *dir)
{
	char *d = strdup(dir);
	char *argv[] = { "rm", "-rf", d, NULL };
	int rc = run(argv, NULL, NULL);
	free(d);
	return rc;
}

int main(int argc, char **argv)
{
	const char *ns = "100000", *root = NULL;
	bool keep = false;
	int opt;
	while ((opt = getopt(argc, argv, "n:d:k")) != -1) {
		switch (opt) {
		case 'n':
			ns = optarg;
			break;
		case 'd':
			root = optarg;
			break;
		case 'k':
			keep = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-n N[,N...]] [-d DIR] [-k]\n",
				argv[0]);
			return 2;
		}
	}
	char *tmpl = NULL;
	if (root == NULL) {
		const char *t = getenv("TMPDIR");
		tmpl = join(t && *t ? t : "/tmp", "ks-bridge-bench.XXXXXX");
		root = mkdtemp(tmpl);
		if (root == NULL)
			return 1;
	} else {
		mkdir(root, 0700);
	}
	ks_log_set_level(KS_LOG_KDB, LOG_WARNING);
	result_t res[8];
	int nres = 0, rc = 0;
	char *list = strdup(ns), *save = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok && nres < 8;
	     tok = strtok_r(NULL, ",", &save)) {
		if (bench_one(root, atol(tok), &res[nres]) == 0)
			nres++;
		else
			rc = 1;
	}
	free(list);

	printf("\n%-10s %-34s %10s %10s\n", "principals", "operation",
	       "seconds", "ratio");
	for (int i = 0; i < nres; i++) {
		result_t *r = &res[i];
		printf("%-10ld %-34s %10.3f %10s\n", r->n, "kdb5_util dump",
		       r->kdb_dump, "1.00");
		printf("%-10ld %-34s %10.3f %9.2fx\n", r->n,
		       "bridge first scan (into store)", r->scan_first,
		       r->scan_first / r->kdb_dump);
		printf("%-10ld %-34s %10.3f %9.2fx\n", r->n,
		       "bridge no-change rescan", r->scan_again,
		       r->scan_again / r->kdb_dump);
		printf("%-10ld %-34s %10.3f %9.2fx\n", r->n,
		       "bridge rescan, lock held", r->scan_hold,
		       r->scan_hold / r->kdb_dump);
		printf("%-10ld %-34s %10.6f %10s\n", r->n,
		       "  longest lock hold, batched", r->lock_max_batch, "");
		printf("%-10ld %-34s %10.6f %10s\n", r->n,
		       "  longest lock hold, held", r->lock_max_hold, "");
		printf("%-10ld %-34s %10.3f %10s\n", r->n,
		       "bridge scan finding 10k changes", r->scan_changed, "");
		printf("%-10ld %-34s %10.6f %10s\n", r->n,
		       "bridge apply 1 change, p50", r->apply1_p50, "");
		printf("%-10ld %-34s %10.6f %10s\n", r->n,
		       "bridge apply 1 change, p99", r->apply1_p99, "");
		printf("%-10ld %-34s %10.3f %10s\n", r->n,
		       "bridge apply batch of 10k", r->apply_batch, "");
		printf("%-10ld %-34s %10.3f %10s\n", r->n, "kdb5_util load",
		       r->kdb_load, "1.00");
		printf("%-10ld %-34s %10.3f %9.2fx  %s\n", r->n,
		       "bridge full load (side DB+promote)", r->bridge_load,
		       r->bridge_load / r->kdb_load,
		       r->verified ? "(dump identical)" : "(DUMP DIFFERS)");
		printf("%-10ld %-34s %10.3f %9.2fx\n", r->n,
		       "bridge full load, lockout merged", r->bridge_load_nra,
		       r->bridge_load_nra / r->kdb_load);
	}
	printf("\n{\"bench\":\"bridge\",\"results\":[");
	for (int i = 0; i < nres; i++) {
		result_t *r = &res[i];
		printf("%s{\"principals\":%ld,\"dump_bytes\":%llu,"
		       "\"kdb5_util_dump_s\":%.4f,\"scan_first_s\":%.4f,"
		       "\"scan_nochange_s\":%.4f,\"scan_nochange_lock_held_s\":"
		       "%.4f,\"kdb5_util_load_s\":%.4f,\"bridge_load_s\":%.4f,"
		       "\"rescan_vs_dump\":%.3f,\"load_vs_kdb5_util_load\":%.3f,"
		       "\"load_verified\":%s,\"scan_10k_changed_s\":%.4f,"
		       "\"apply1_p50_s\":%.6f,\"apply1_p99_s\":%.6f,"
		       "\"apply_10k_batch_s\":%.4f,\"lock_hold_max_batched_s\":"
		       "%.6f,\"lock_hold_max_unbatched_s\":%.6f,"
		       "\"bridge_load_merge_nra_s\":%.4f}",
		       i ? "," : "", r->n, (unsigned long long)r->dump_bytes,
		       r->kdb_dump, r->scan_first, r->scan_again, r->scan_hold,
		       r->kdb_load, r->bridge_load, r->scan_again / r->kdb_dump,
		       r->bridge_load / r->kdb_load,
		       r->verified ? "true" : "false", r->scan_changed,
		       r->apply1_p50, r->apply1_p99, r->apply_batch,
		       r->lock_max_batch, r->lock_max_hold, r->bridge_load_nra);
	}
	printf("]}\n");
	if (!keep)
		rm_tree(root);
	else
		fprintf(stderr, "kept %s\n", root);
	free(tmpl);
	return rc;
}
