/* SPDX-License-Identifier: MIT */
/*
 * bridge/report.c: capture reports round-trip for every kind; the decoder
 * refuses every truncation, every single-byte change of the fixed header
 * that breaks a rule, and every layout rule of bridge/report.h, writing
 * nothing on error; the encoder refuses what the decoder would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/report.h"
#include "helpers/test.h"

static size_t enc(uint8_t kind, const char *name, uint64_t id, uint32_t dropped,
		  uint8_t *buf, size_t cap)
{
	ks_report_t r = { .kind = kind,
			  .id = id,
			  .dropped = dropped,
			  .name = name,
			  .name_len = name ? strlen(name) : 0 };
	size_t n = 0;
	assert_ks_ok(ks_report_encode(&r, buf, cap, &n));
	return n;
}

static void test_round_trip(void **state)
{
	(void)state;
	uint8_t buf[KS_REPORT_MAX_LEN];
	static const char *const names[KS_REPORT_KIND_COUNT] = {
		[KS_REPORT_PRINC_PUT] = "alice@EXAMPLE.ORG",
		[KS_REPORT_PRINC_DEL] = "host/a.example.org@EXAMPLE.ORG",
		[KS_REPORT_POLICY_PUT] = "default",
		[KS_REPORT_POLICY_DEL] = "p",
		[KS_REPORT_LOCKOUT] = "bob@EXAMPLE.ORG",
		[KS_REPORT_MKEY] = "K/M@EXAMPLE.ORG",
	};
	for (unsigned k = 1; k < KS_REPORT_KIND_COUNT; k++) {
		size_t n = enc((uint8_t)k, names[k], 1000 + k, k * 7, buf,
			       sizeof(buf));
		assert_int_equal(n, KS_REPORT_HDR_LEN +
					    (names[k] ? strlen(names[k]) : 0));
		ks_report_t r;
		assert_ks_ok(ks_report_decode(buf, n, &r));
		assert_int_equal(r.kind, k);
		assert_int_equal(r.id, 1000 + k);
		assert_int_equal(r.dropped, k * 7);
		assert_int_equal(r.flags, 0);
		if (names[k]) {
			assert_int_equal(r.name_len, strlen(names[k]));
			assert_memory_equal(r.name, names[k], r.name_len);
		} else {
			assert_int_equal(r.name_len, 0);
		}
		assert_string_not_equal(ks_report_kind_name(k), "?");
	}
	assert_string_equal(ks_report_kind_name(0), "?");
	assert_string_equal(ks_report_kind_name(KS_REPORT_KIND_COUNT), "?");
	/* the reply flag (synchronous mode) is part of version 1 */
	ks_report_t r = { .kind = KS_REPORT_LOAD,
			  .flags = KS_REPORT_F_REPLY,
			  .id = 5 };
	size_t n;
	assert_ks_ok(ks_report_encode(&r, buf, sizeof(buf), &n));
	assert_ks_ok(ks_report_decode(buf, n, &r));
	assert_int_equal(r.flags, KS_REPORT_F_REPLY);
	/* the node's answer: no name, the request's id */
	r = (ks_report_t){ .kind = KS_REPORT_ANSWER, .id = (uint64_t)1 << 40 };
	assert_ks_ok(ks_report_encode(&r, buf, sizeof(buf), &n));
	assert_int_equal(n, KS_REPORT_HDR_LEN);
	assert_ks_ok(ks_report_decode(buf, n, &r));
	assert_int_equal(r.kind, KS_REPORT_ANSWER);
	assert_int_equal(r.id, (uint64_t)1 << 40);
	assert_string_equal(ks_report_kind_name(KS_REPORT_ANSWER), "answer");
	r = (ks_report_t){
		.kind = KS_REPORT_ANSWER, .id = 1, .name = "a", .name_len = 1
	};
	assert_ks_err(ks_report_encode(&r, buf, sizeof(buf), &n), KS_EINVAL);
}

/* The exact bytes of bridge/report.h's layout. */
static void test_layout(void **state)
{
	(void)state;
	uint8_t buf[64];
	size_t n = enc(KS_REPORT_POLICY_DEL, "pol", 0x0102030405060708ull,
		       0x0a0b0c0d, buf, sizeof(buf));
	static const uint8_t want[] = {
		'K',  'R',  1,	  4,	0,    0,    0,	  3, /* .. name_len */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* id */
		0x0a, 0x0b, 0x0c, 0x0d, 0,    0,    0,	  0, /* dropped, res */
		'p',  'o',  'l',
	};
	test_assert_mem_eq(buf, n, want, sizeof(want));
}

static void test_malformed(void **state)
{
	(void)state;
	uint8_t good[64], m[64];
	size_t n = enc(KS_REPORT_PRINC_PUT, "u@R", 9, 0, good, sizeof(good));
	ks_report_t out, sentinel;
	memset(&sentinel, 0xa5, sizeof(sentinel));

#define REFUSE(buf, len, code)                                                 \
	do {                                                                   \
		out = sentinel;                                                \
		assert_ks_err(ks_report_decode((buf), (len), &out), (code));   \
		assert_memory_equal(&out, &sentinel, sizeof(out));             \
	} while (0)

	/* every truncation, and one byte too many */
	for (size_t len = 0; len < n; len++)
		REFUSE(good, len,
		       len < KS_REPORT_HDR_LEN ? KS_ETRUNC : KS_EMALF);
	memcpy(m, good, n);
	m[n] = 'x';
	REFUSE(m, n + 1, KS_EMALF);

	struct {
		size_t off;
		uint8_t val;
		int code;
	} cases[] = {
		{ 0, 'X', KS_EMALF },  /* magic */
		{ 1, 'r', KS_EMALF },  /* magic */
		{ 2, 0, KS_EVERSION }, /* version */
		{ 2, 2, KS_EVERSION }, /* version */
		{ 3, 0, KS_ETYPE },    /* kind 0 */
		{ 3, KS_REPORT_KIND_COUNT, KS_ETYPE },
		{ 3, 0xff, KS_ETYPE },
		{ 3, KS_REPORT_LOAD, KS_EMALF }, /* name on a nameless kind */
		{ 3, KS_REPORT_LOST, KS_EMALF },
		{ 4, 0x02, KS_EMALF }, /* unknown flag */
		{ 4, 0x80, KS_EMALF },
		{ 5, 1, KS_EMALF },	/* reserved */
		{ 7, 2, KS_EMALF },	/* name_len short */
		{ 7, 4, KS_EMALF },	/* name_len long */
		{ 6, 0x40, KS_ELIMIT }, /* name_len > max */
		{ 15, 0, KS_EMALF },	/* id 0 (with bytes 8..14 zero) */
		{ 20, 1, KS_EMALF },	/* reserved */
		{ 23, 1, KS_EMALF },
		{ 25, 0, KS_EMALF }, /* NUL in the name */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(m, good, n);
		m[cases[i].off] = cases[i].val;
		REFUSE(m, n, cases[i].code);
	}
	/* a named kind without a name */
	n = enc(KS_REPORT_LOAD, NULL, 3, 0, good, sizeof(good));
	memcpy(m, good, n);
	m[3] = KS_REPORT_PRINC_DEL;
	REFUSE(m, n, KS_EMALF);
	/* a name of exactly the maximum is fine, one more is not */
	size_t big = KS_REPORT_HDR_LEN + KS_REPORT_NAME_MAX + 1;
	uint8_t *b = malloc(big);
	char *name = malloc(KS_REPORT_NAME_MAX + 2);
	memset(name, 'a', KS_REPORT_NAME_MAX + 1);
	name[KS_REPORT_NAME_MAX] = '\0';
	size_t bn = enc(KS_REPORT_PRINC_PUT, name, 1, 0, b, big);
	assert_int_equal(bn, KS_REPORT_MAX_LEN);
	assert_ks_ok(ks_report_decode(b, bn, &out));
	name[KS_REPORT_NAME_MAX] = 'a';
	name[KS_REPORT_NAME_MAX + 1] = '\0';
	ks_report_t r = { .kind = KS_REPORT_PRINC_PUT,
			  .id = 1,
			  .name = name,
			  .name_len = KS_REPORT_NAME_MAX + 1 };
	assert_ks_err(ks_report_encode(&r, b, big, &bn), KS_ELIMIT);
	free(name);
	free(b);
}

static void test_encode_refuses(void **state)
{
	(void)state;
	uint8_t buf[64];
	size_t n = 77;
	ks_report_t bad[] = {
		{ .kind = 0, .id = 1, .name = "a", .name_len = 1 },
		{ .kind = KS_REPORT_KIND_COUNT, .id = 1 },
		{ .kind = KS_REPORT_PRINC_PUT,
		  .id = 0,
		  .name = "a",
		  .name_len = 1 },
		{ .kind = KS_REPORT_PRINC_PUT, .id = 1 }, /* no name */
		{ .kind = KS_REPORT_LOAD, .id = 1, .name = "a", .name_len = 1 },
		{ .kind = KS_REPORT_PRINC_PUT,
		  .id = 1,
		  .flags = 0x40,
		  .name = "a",
		  .name_len = 1 },
		{ .kind = KS_REPORT_PRINC_PUT,
		  .id = 1,
		  .name = "a\0b",
		  .name_len = 3 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_ks_err(ks_report_encode(&bad[i], buf, sizeof(buf), &n),
			      KS_EINVAL);
		assert_int_equal(n, 77);
	}
	ks_report_t r = { .kind = KS_REPORT_PRINC_PUT,
			  .id = 1,
			  .name = "abcdef",
			  .name_len = 6 };
	assert_ks_err(ks_report_encode(&r, buf, KS_REPORT_HDR_LEN + 5, &n),
		      KS_ELIMIT);
	assert_int_equal(n, 77);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_encode_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
