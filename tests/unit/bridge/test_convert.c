/* SPDX-License-Identifier: MIT */
/*
 * bridge/convert.c against an independent reference: a printf-based writer
 * that follows MIT dump.c's format strings (k5beta7_common,
 * dump_r1_11_policy) field by field.  Random entries must encode to exactly
 * the reference text, parse back to the same fields, and re-encode to the
 * same bytes; every truncation and many byte mutations of good lines must
 * be rejected (or, if accepted, be canonical) without crash or leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <krb5.h>
#include <kdb.h>

#include "bridge/convert.h"
#include "common/buf.h"
#include "common/log.h"
#include "helpers/test.h"

static krb5_context kctx;
static uint64_t seed;

static int setup(void **state)
{
	(void)state;
	setenv("KRB5_CONFIG", "/dev/null", 1);
	if (krb5_init_context(&kctx))
		return -1;
	seed = test_seed();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	krb5_free_context(kctx);
	return 0;
}

/* --- reference writer (printf, MIT's format strings) --------------------- */

static void ref_hex(FILE *f, const uint8_t *d, size_t n)
{
	if (n == 0) {
		fprintf(f, "-1");
		return;
	}
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", d[i]);
}

static char *ref_princ(const krb5_db_entry *e, const char *name, bool nra,
		       size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	fprintf(f, "princ\t%d\t%lu\t%d\t%d\t%d\t%s\t", (int)e->len,
		(unsigned long)strlen(name), (int)e->n_tl_data,
		(int)e->n_key_data, (int)e->e_length, name);
	fprintf(f, "%d\t%d\t%d\t%u\t%u\t%u\t%u\t%d", e->attributes, e->max_life,
		e->max_renewable_life, (unsigned int)e->expiration,
		(unsigned int)e->pw_expiration,
		(unsigned int)(nra ? e->last_success : 0),
		(unsigned int)(nra ? e->last_failed : 0),
		nra ? (int)e->fail_auth_count : 0);
	for (krb5_tl_data *tl = e->tl_data; tl; tl = tl->tl_data_next) {
		fprintf(f, "\t%d\t%d\t", (int)tl->tl_data_type,
			(int)tl->tl_data_length);
		ref_hex(f, tl->tl_data_contents, tl->tl_data_length);
	}
	fprintf(f, "\t");
	for (int i = 0; i < e->n_key_data; i++) {
		krb5_key_data *kd = &e->key_data[i];
		fprintf(f, "%d\t%d\t", (int)kd->key_data_ver,
			(int)kd->key_data_kvno);
		for (int j = 0; j < kd->key_data_ver; j++) {
			fprintf(f, "%d\t%d\t", kd->key_data_type[j],
				kd->key_data_length[j]);
			ref_hex(f, kd->key_data_contents[j],
				kd->key_data_length[j]);
			fprintf(f, "\t");
		}
	}
	ref_hex(f, e->e_data, e->e_length);
	fprintf(f, ";\n");
	fclose(f);
	return buf;
}

static char *ref_policy(const osa_policy_ent_rec *p, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	fprintf(f,
		"policy\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t"
		"%d\t%d\t%d\t%s\t%d",
		p->name, p->pw_min_life, p->pw_max_life, p->pw_min_length,
		p->pw_min_classes, p->pw_history_num, 0, p->pw_max_fail,
		p->pw_failcnt_interval, p->pw_lockout_duration, p->attributes,
		p->max_life, p->max_renewable_life,
		p->allowed_keysalts ? p->allowed_keysalts : "-", p->n_tl_data);
	for (krb5_tl_data *tl = p->tl_data; tl; tl = tl->tl_data_next) {
		fprintf(f, "\t%d\t%d\t", (int)tl->tl_data_type,
			(int)tl->tl_data_length);
		ref_hex(f, tl->tl_data_contents, tl->tl_data_length);
	}
	fprintf(f, "\n");
	fclose(f);
	return buf;
}

/* --- random objects ------------------------------------------------------- */

static uint32_t rnd(uint32_t n)
{
	return (uint32_t)(test_rand(&seed) % n);
}

static int32_t rnd_i32(void)
{
	switch (rnd(4)) {
	case 0:
		return 0;
	case 1:
		return (int32_t)rnd(100000);
	case 2:
		return -(int32_t)rnd(100000) - 1;
	default:
		return (int32_t)(uint32_t)test_rand(&seed);
	}
}

static uint8_t *rnd_bytes(size_t n)
{
	if (n == 0)
		return NULL;
	uint8_t *p = malloc(n);
	test_fill_random(p, n, &seed);
	return p;
}

static krb5_tl_data *rnd_tl(int n)
{
	krb5_tl_data *head = NULL, **tail = &head;
	for (int i = 0; i < n; i++) {
		krb5_tl_data *tl = calloc(1, sizeof(*tl));
		tl->tl_data_type = (krb5_int16)(rnd(3) ? rnd(12) + 1
						       : (uint32_t)rnd_i32());
		tl->tl_data_length = (krb5_ui_2)(rnd(5) ? rnd(40) : 0);
		tl->tl_data_contents = rnd_bytes(tl->tl_data_length);
		*tail = tl;
		tail = &tl->tl_data_next;
	}
	return head;
}

static const char *const names[] = {
	"alice@EXAMPLE.TEST",
	"host/server.example.test@EXAMPLE.TEST",
	"with space/in name@EXAMPLE.TEST",
	"us\\@er@EXAMPLE.TEST",
	"a\\/b/c@EXAMPLE.TEST",
	"j\xc3\xbcrgen/\xe6\x97\xa5\xe6\x9c\xac@EXAMPLE.TEST",
	"krbtgt/OTHER.TEST@EXAMPLE.TEST",
	"tab\\there@EXAMPLE.TEST",
	"K/M@EXAMPLE.TEST",
};

static krb5_db_entry *rnd_entry(const char **name)
{
	krb5_db_entry *e = calloc(1, sizeof(*e));
	*name = names[rnd(sizeof(names) / sizeof(names[0]))];
	assert_int_equal(krb5_parse_name(kctx, *name, &e->princ), 0);
	e->len = KRB5_KDB_V1_BASE_LENGTH;
	e->attributes = rnd_i32();
	e->max_life = rnd_i32();
	e->max_renewable_life = rnd_i32();
	e->expiration = rnd_i32();
	e->pw_expiration = rnd_i32();
	e->last_success = rnd_i32();
	e->last_failed = rnd_i32();
	e->fail_auth_count = (krb5_kvno)rnd_i32();
	e->n_tl_data = (krb5_int16)rnd(6);
	e->tl_data = rnd_tl(e->n_tl_data);
	e->n_key_data = (krb5_int16)rnd(5);
	if (e->n_key_data)
		e->key_data =
			calloc((size_t)e->n_key_data, sizeof(*e->key_data));
	for (int i = 0; i < e->n_key_data; i++) {
		krb5_key_data *kd = &e->key_data[i];
		kd->key_data_ver = (krb5_int16)(1 + rnd(2));
		kd->key_data_kvno = (krb5_ui_2)rnd(70000);
		for (int j = 0; j < kd->key_data_ver; j++) {
			kd->key_data_type[j] = (krb5_int16)(rnd(30) - 3);
			kd->key_data_length[j] =
				(krb5_ui_2)(rnd(4) ? rnd(70) : 0);
			kd->key_data_contents[j] =
				rnd_bytes(kd->key_data_length[j]);
		}
	}
	e->e_length = (krb5_ui_2)(rnd(6) == 0 ? rnd(8) : 0);
	e->e_data = rnd_bytes(e->e_length);
	return e;
}

static osa_policy_ent_rec *rnd_policy(void)
{
	static const char *const pn[] = { "pol", "full-pol_1", "x",
					  "\xc3\xbc-pol" };
	osa_policy_ent_rec *p = calloc(1, sizeof(*p));
	p->name = strdup(pn[rnd(4)]);
	p->pw_min_life = (krb5_ui_4)rnd_i32();
	p->pw_max_life = (krb5_ui_4)rnd_i32();
	p->pw_min_length = rnd(20);
	p->pw_min_classes = rnd(5);
	p->pw_history_num = rnd(10);
	p->pw_max_fail = (krb5_ui_4)rnd_i32();
	p->pw_failcnt_interval = (krb5_ui_4)rnd_i32();
	p->pw_lockout_duration = (krb5_ui_4)rnd_i32();
	p->attributes = (krb5_ui_4)rnd_i32();
	p->max_life = (krb5_ui_4)rnd_i32();
	p->max_renewable_life = (krb5_ui_4)rnd_i32();
	if (rnd(2))
		p->allowed_keysalts = strdup("aes256-cts-hmac-sha1-96:normal,"
					     "aes128-cts-hmac-sha1-96:special");
	p->n_tl_data = (krb5_int16)rnd(3);
	p->tl_data = rnd_tl(p->n_tl_data);
	return p;
}

/* --- comparisons ---------------------------------------------------------- */

static void assert_tl_eq(const krb5_tl_data *a, const krb5_tl_data *b)
{
	for (; a && b; a = a->tl_data_next, b = b->tl_data_next) {
		assert_int_equal(a->tl_data_type, b->tl_data_type);
		assert_int_equal(a->tl_data_length, b->tl_data_length);
		test_assert_mem_eq(a->tl_data_contents, a->tl_data_length,
				   b->tl_data_contents, b->tl_data_length);
	}
	assert_null(a);
	assert_null(b);
}

static void assert_entry_eq(const krb5_db_entry *a, const krb5_db_entry *b,
			    bool nra)
{
	assert_true(krb5_principal_compare(kctx, a->princ, b->princ));
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->attributes, b->attributes);
	assert_int_equal(a->max_life, b->max_life);
	assert_int_equal(a->max_renewable_life, b->max_renewable_life);
	assert_int_equal(a->expiration, b->expiration);
	assert_int_equal(a->pw_expiration, b->pw_expiration);
	assert_int_equal(nra ? a->last_success : 0, b->last_success);
	assert_int_equal(nra ? a->last_failed : 0, b->last_failed);
	assert_int_equal(nra ? a->fail_auth_count : 0, b->fail_auth_count);
	assert_int_equal(a->n_tl_data, b->n_tl_data);
	assert_tl_eq(a->tl_data, b->tl_data);
	assert_int_equal(a->n_key_data, b->n_key_data);
	for (int i = 0; i < a->n_key_data; i++) {
		const krb5_key_data *x = &a->key_data[i], *y = &b->key_data[i];
		assert_int_equal(x->key_data_ver, y->key_data_ver);
		assert_int_equal(x->key_data_kvno, y->key_data_kvno);
		for (int j = 0; j < x->key_data_ver; j++) {
			assert_int_equal(x->key_data_type[j],
					 y->key_data_type[j]);
			test_assert_mem_eq(
				x->key_data_contents[j], x->key_data_length[j],
				y->key_data_contents[j], y->key_data_length[j]);
		}
	}
	test_assert_mem_eq(a->e_data, a->e_length, b->e_data, b->e_length);
}

/* --- tests ---------------------------------------------------------------- */

static void test_princ_matches_reference(void **state)
{
	(void)state;
	for (int round = 0; round < 2000; round++) {
		const char *name;
		krb5_db_entry *e = rnd_entry(&name);
		bool nra = rnd(2);
		size_t rlen;
		char *ref = ref_princ(e, name, nra, &rlen);
		ks_buf_t out = KS_BUF_INIT;
		assert_ks_ok(bridge_convert_princ_encode(e, name, nra, &out));
		test_assert_mem_eq(out.data, out.len, ref, rlen);

		krb5_db_entry *back = NULL;
		assert_ks_ok(bridge_convert_princ_parse(
			kctx, (const char *)out.data, out.len, &back));
		assert_entry_eq(e, back, nra);
		ks_buf_t again = KS_BUF_INIT;
		assert_ks_ok(
			bridge_convert_princ_encode(back, name, true, &again));
		test_assert_mem_eq(again.data, again.len, out.data, out.len);

		const char *n;
		size_t nl;
		bool pol = true;
		assert_ks_ok(bridge_convert_line_name((const char *)out.data,
						      out.len, &n, &nl, &pol));
		assert_false(pol);
		test_assert_mem_eq(n, nl, name, strlen(name));

		bridge_convert_princ_free(kctx, back);
		bridge_convert_princ_free(kctx, e);
		ks_buf_free(&out);
		ks_buf_free(&again);
		free(ref);
	}
}

static void test_policy_matches_reference(void **state)
{
	(void)state;
	for (int round = 0; round < 1000; round++) {
		osa_policy_ent_rec *p = rnd_policy();
		size_t rlen;
		char *ref = ref_policy(p, &rlen);
		ks_buf_t out = KS_BUF_INIT;
		assert_ks_ok(bridge_convert_policy_encode(p, &out));
		test_assert_mem_eq(out.data, out.len, ref, rlen);
		osa_policy_ent_rec *back = NULL;
		assert_ks_ok(bridge_convert_policy_parse((const char *)out.data,
							 out.len, &back));
		assert_string_equal(p->name, back->name);
		assert_int_equal(p->pw_min_life, back->pw_min_life);
		assert_int_equal(p->pw_max_life, back->pw_max_life);
		assert_int_equal(p->pw_max_fail, back->pw_max_fail);
		assert_int_equal(p->pw_failcnt_interval,
				 back->pw_failcnt_interval);
		assert_int_equal(p->pw_lockout_duration,
				 back->pw_lockout_duration);
		assert_int_equal(p->attributes, back->attributes);
		assert_int_equal(p->max_renewable_life,
				 back->max_renewable_life);
		if (p->allowed_keysalts)
			assert_string_equal(p->allowed_keysalts,
					    back->allowed_keysalts);
		else
			assert_null(back->allowed_keysalts);
		assert_int_equal(p->n_tl_data, back->n_tl_data);
		assert_tl_eq(p->tl_data, back->tl_data);
		ks_buf_t again = KS_BUF_INIT;
		assert_ks_ok(bridge_convert_policy_encode(back, &again));
		test_assert_mem_eq(again.data, again.len, out.data, out.len);
		bridge_convert_policy_free(p);
		bridge_convert_policy_free(back);
		ks_buf_free(&out);
		ks_buf_free(&again);
		free(ref);
	}
}

/* Parse anything: either rejected with KS_EMALF, or canonical. */
static void check_any(const char *line, size_t len)
{
	if (len >= 6 && memcmp(line, "policy", 6) == 0) {
		osa_policy_ent_rec *p = NULL;
		int ret = bridge_convert_policy_parse(line, len, &p);
		if (ret == KS_EOK) {
			ks_buf_t out = KS_BUF_INIT;
			assert_ks_ok(bridge_convert_policy_encode(p, &out));
			test_assert_mem_eq(out.data, out.len, line, len);
			ks_buf_free(&out);
			bridge_convert_policy_free(p);
		} else {
			assert_ks_err(ret, KS_EMALF);
			assert_null(p);
		}
		return;
	}
	krb5_db_entry *e = NULL;
	int ret = bridge_convert_princ_parse(kctx, line, len, &e);
	if (ret == KS_EOK) {
		char *name = NULL;
		assert_int_equal(krb5_unparse_name(kctx, e->princ, &name), 0);
		ks_buf_t out = KS_BUF_INIT;
		assert_ks_ok(bridge_convert_princ_encode(e, name, true, &out));
		test_assert_mem_eq(out.data, out.len, line, len);
		ks_buf_free(&out);
		krb5_free_unparsed_name(kctx, name);
		bridge_convert_princ_free(kctx, e);
	} else {
		assert_ks_err(ret, KS_EMALF);
		assert_null(e);
	}
}

static void test_truncations_and_mutations(void **state)
{
	(void)state;
	ks_log_set_level_all(LOG_CRIT); /* thousands of expected rejections */
	static const char mut[] = "0123456789abcdefABCDEF-\t\n;x\\@/ ";
	for (int round = 0; round < 120; round++) {
		ks_buf_t out = KS_BUF_INIT;
		if (round % 3 == 2) {
			osa_policy_ent_rec *p = rnd_policy();
			assert_ks_ok(bridge_convert_policy_encode(p, &out));
			bridge_convert_policy_free(p);
		} else {
			const char *name;
			krb5_db_entry *e = rnd_entry(&name);
			assert_ks_ok(bridge_convert_princ_encode(e, name, true,
								 &out));
			bridge_convert_princ_free(kctx, e);
		}
		char *line = (char *)out.data;
		/* Every proper prefix is truncated: always rejected.  Each
		 * prefix sits in an exact-size buffer so ASan sees any read
		 * past it, and the first rounds log (exercising the
		 * rejection message, which quotes the name). */
		ks_log_set_level_all(round < 3 ? LOG_WARNING : LOG_CRIT);
		for (size_t cut = 0; cut < out.len; cut++) {
			krb5_db_entry *e = NULL;
			osa_policy_ent_rec *p = NULL;
			char *pre = malloc(cut ? cut : 1);
			memcpy(pre, line, cut);
			if (line[0] == 'p' && line[1] == 'o')
				assert_ks_err(bridge_convert_policy_parse(
						      pre, cut, &p),
					      KS_EMALF);
			else
				assert_ks_err(bridge_convert_princ_parse(
						      kctx, pre, cut, &e),
					      KS_EMALF);
			free(pre);
			assert_null(e);
			assert_null(p);
		}
		ks_log_set_level_all(LOG_CRIT);
		/* Trailing junk after the terminator. */
		char *junk = malloc(out.len + 1);
		memcpy(junk, line, out.len);
		junk[out.len] = 'x';
		krb5_db_entry *je = NULL;
		osa_policy_ent_rec *jp = NULL;
		if (line[0] == 'p' && line[1] == 'o')
			assert_ks_err(bridge_convert_policy_parse(
					      junk, out.len + 1, &jp),
				      KS_EMALF);
		else
			assert_ks_err(bridge_convert_princ_parse(
					      kctx, junk, out.len + 1, &je),
				      KS_EMALF);
		/* Byte mutations: rejected or still canonical. */
		for (int m = 0; m < 200; m++) {
			memcpy(junk, line, out.len);
			size_t pos = rnd((uint32_t)out.len);
			junk[pos] = mut[rnd(sizeof(mut) - 1)];
			check_any(junk, out.len);
		}
		free(junk);
		ks_buf_free(&out);
	}
	ks_log_set_level_all(LOG_INFO);
}

static void expect_malf_princ(const char *line)
{
	krb5_db_entry *e = NULL;
	assert_ks_err(bridge_convert_princ_parse(kctx, line, strlen(line), &e),
		      KS_EMALF);
	assert_null(e);
}

static void test_specific_malformations(void **state)
{
	(void)state;
	/* The good line, then each field broken in one way. */
	const char *good = "princ\t38\t8\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			   "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n";
	krb5_db_entry *e = NULL;
	assert_ks_ok(bridge_convert_princ_parse(kctx, good, strlen(good), &e));
	assert_int_equal(e->n_key_data, 1);
	assert_int_equal(e->key_data[0].key_data_kvno, 2);
	assert_int_equal(e->attributes, 128);
	bridge_convert_princ_free(kctx, e);

	ks_log_set_level_all(LOG_CRIT);
	/* bad counts */
	expect_malf_princ("princ\t38\t8\t2\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n");
	expect_malf_princ("princ\t38\t8\t1\t2\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n");
	expect_malf_princ("princ\t38\t9\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n");
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t3\t0100\t1\t2\t18\t2\tabcd\t-1;\n");
	/* bad hex: uppercase, odd, non-hex */
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tABCD\t-1;\n");
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcg\t-1;\n");
	/* an empty element must be -1 */
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t0\t\t1\t2\t18\t2\tabcd\t-1;\n");
	/* non-canonical numbers */
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t0128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n");
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t-0\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n");
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t+1\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n");
	/* overlong fields / out of range */
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t"
			  "4294967296\t0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\t"
			  "abcd\t-1;\n");
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t65536\t0100\t1\t2\t18\t2\tabcd\t"
			  "-1;\n");
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t\t3\t2\t18\t2\tabcd\t-1;\n");
	expect_malf_princ("princ\t38\t99999\t1\t1\t0\tu@R.TEST\t128\t36000\t0"
			  "\t0\t0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t"
			  "-1;\n");
	expect_malf_princ("princ\t38\t8\t1\t40000\t0\tu@R.TEST\t128\t36000\t0"
			  "\t0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n");
	/* trailing junk, wrong terminator, name not canonical/no realm */
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n"
			  "\n");
	expect_malf_princ("princ\t38\t8\t1\t1\t0\tu@R.TEST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1\n");
	expect_malf_princ("princ\t38\t6\t1\t1\t0\tu@RTST\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n"
			  "x");
	expect_malf_princ("princ\t38\t1\t1\t1\t0\tu\t128\t36000\t0\t0\t"
			  "0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n");
	expect_malf_princ("princ\t38\t9\t1\t1\t0\t\\u@R.TEST\t128\t36000\t0\t0"
			  "\t0\t0\t0\t0\t8\t2\t0100\t1\t2\t18\t2\tabcd\t-1;\n");
	expect_malf_princ("policy\tp\t0\t0\t1\t1\t1\t0\t0\t0\t0\t0\t0\t0\t-"
			  "\t0\n");

	osa_policy_ent_rec *p = NULL;
	const char *pgood = "policy\tp\t0\t0\t1\t1\t1\t0\t2\t0\t0\t0\t0\t0\t-"
			    "\t1\t5\t1\t00\n";
	assert_ks_ok(bridge_convert_policy_parse(pgood, strlen(pgood), &p));
	assert_int_equal(p->pw_max_fail, 2);
	assert_int_equal(p->n_tl_data, 1);
	bridge_convert_policy_free(p);
	p = NULL;
	static const char *const pbad[] = {
		/* refcnt not 0 */
		"policy\tp\t0\t0\t1\t1\t1\t1\t2\t0\t0\t0\t0\t0\t-\t0\n",
		/* 1.8 shape (fields missing) */
		"policy\tp\t0\t0\t1\t1\t1\t0\t2\t0\t0\n",
		/* tl count too high */
		"policy\tp\t0\t0\t1\t1\t1\t0\t2\t0\t0\t0\t0\t0\t-\t2\t5\t1\t00\n",
		/* empty keysalts */
		"policy\tp\t0\t0\t1\t1\t1\t0\t2\t0\t0\t0\t0\t0\t\t0\n",
		/* empty name */
		"policy\t\t0\t0\t1\t1\t1\t0\t2\t0\t0\t0\t0\t0\t-\t0\n",
		/* trailing junk */
		"policy\tp\t0\t0\t1\t1\t1\t0\t2\t0\t0\t0\t0\t0\t-\t0\n\n",
		/* out of range */
		"policy\tp\t0\t0\t1\t1\t1\t0\t2\t0\t0\t0\t0\t2147483648\t-\t0\n",
	};
	for (size_t i = 0; i < sizeof(pbad) / sizeof(pbad[0]); i++) {
		assert_ks_err(bridge_convert_policy_parse(pbad[i],
							  strlen(pbad[i]), &p),
			      KS_EMALF);
		assert_null(p);
	}
	ks_log_set_level_all(LOG_INFO);
}

static void test_encoder_rejects_inconsistent(void **state)
{
	(void)state;
	const char *name;
	krb5_db_entry *e = rnd_entry(&name);
	ks_buf_t out = KS_BUF_INIT;
	e->n_tl_data++;
	ks_log_set_level_all(LOG_CRIT);
	assert_ks_err(bridge_convert_princ_encode(e, name, false, &out),
		      KS_EMALF);
	assert_int_equal(out.len, 0);
	e->n_tl_data--;
	if (e->n_key_data) {
		e->key_data[0].key_data_ver = 3;
		assert_ks_err(bridge_convert_princ_encode(e, name, false, &out),
			      KS_EMALF);
		e->key_data[0].key_data_ver = 1;
	}
	ks_log_set_level_all(LOG_INFO);
	bridge_convert_princ_free(kctx, e);
	ks_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_princ_matches_reference),
		cmocka_unit_test(test_policy_matches_reference),
		cmocka_unit_test(test_truncations_and_mutations),
		cmocka_unit_test(test_specific_malformations),
		cmocka_unit_test(test_encoder_rejects_inconsistent),
	};
	return test_run_group(tests, setup, teardown);
}
