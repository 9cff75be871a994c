/* SPDX-License-Identifier: MIT */
/* Wire cursor and growable buffer: round trips, sticky errors, bounds. */
#include <string.h>

#include "common/buf.h"
#include "common/wire.h"
#include "helpers/test.h"

static void test_roundtrip(void **state)
{
	(void)state;
	uint8_t buf[32];
	ks_wire_t w = ks_wire_writer(buf, sizeof(buf));
	ks_wire_write_u8(&w, 0xab);
	ks_wire_write_u16(&w, 0x1234);
	ks_wire_write_u32(&w, 0xdeadbeef);
	ks_wire_write_u64(&w, 0x0102030405060708ull);
	ks_wire_write_bytes(&w, "xyz", 3);
	assert_ks_ok(w.err);
	assert_int_equal(ks_wire_offset(&w), 18);
	static const uint8_t want[] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe,
					0xef, 1,    2,	  3,	4,    5,
					6,    7,    8,	  'x',	'y',  'z' };
	test_assert_mem_eq(buf, 18, want, sizeof(want));

	ks_wire_t r = ks_wire_reader(buf, 18);
	assert_int_equal(ks_wire_read_u8(&r), 0xab);
	assert_int_equal(ks_wire_read_u16(&r), 0x1234);
	assert_int_equal(ks_wire_read_u32(&r), 0xdeadbeef);
	assert_true(ks_wire_read_u64(&r) == 0x0102030405060708ull);
	const uint8_t *v = ks_wire_read_view(&r, 3);
	assert_non_null(v);
	assert_memory_equal(v, "xyz", 3);
	assert_int_equal(ks_wire_left(&r), 0);
	assert_ks_ok(r.err);
}

static void test_sticky_read(void **state)
{
	(void)state;
	uint8_t buf[5] = { 1, 2, 3, 4, 5 };
	ks_wire_t r = ks_wire_reader(buf, sizeof(buf));
	assert_int_equal(ks_wire_read_u32(&r), 0x01020304);
	assert_int_equal(ks_wire_read_u16(&r), 0); /* short: error */
	assert_ks_err(r.err, KS_ETRUNC);
	/* later reads are no-ops even if they would fit */
	assert_int_equal(ks_wire_read_u8(&r), 0);
	assert_null(ks_wire_read_view(&r, 0));
	assert_int_equal(ks_wire_left(&r), 0);
	assert_ks_err(r.err, KS_ETRUNC);
}

static void test_sticky_write(void **state)
{
	(void)state;
	uint8_t buf[3] = { 0 };
	ks_wire_t w = ks_wire_writer(buf, sizeof(buf));
	ks_wire_write_u32(&w, 0xffffffff);
	assert_ks_err(w.err, KS_ELIMIT);
	ks_wire_write_u8(&w, 0xff);
	assert_int_equal(buf[0], 0); /* nothing partially written */

	ks_wire_t r = ks_wire_reader(buf, sizeof(buf));
	ks_wire_write_u8(&r, 1);
	assert_ks_err(r.err, KS_EINVAL);
}

static void test_buf(void **state)
{
	(void)state;
	ks_buf_t b = KS_BUF_INIT;
	for (int i = 0; i < 1000; i++)
		assert_ks_ok(ks_buf_append_u32(&b, (uint32_t)i));
	assert_int_equal(b.len, 4000);
	assert_int_equal(ks_get_u32be(b.data + 4 * 999), 999);
	assert_ks_ok(ks_buf_append_u64(&b, 7));
	assert_int_equal(ks_get_u64be(b.data + 4000), 7);
	assert_ks_err(ks_buf_reserve(&b, SIZE_MAX - 10), KS_ENOMEM);
	assert_int_equal(b.len, 4008);
	ks_buf_reset(&b);
	assert_int_equal(b.len, 0);
	ks_buf_free(&b);
	assert_null(b.data);
}

static void test_buf_text(void **state)
{
	(void)state;
	ks_buf_t b = KS_BUF_INIT;
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	assert_ks_ok(ks_buf_appendf(&b, "n=%d s=%s", 42, "ok"));
	assert_int_equal(b.len, 9);
	assert_memory_equal(b.data, "n=42 s=ok", 9);
	/* long text is appended whole, never truncated */
	assert_ks_ok(ks_buf_appendf(&b, "%s", big));
	assert_int_equal(b.len, 9 + sizeof(big) - 1);
	ks_buf_reset(&b);

	assert_ks_ok(ks_buf_append_json_str(&b, "a\"b\\c\n\x01"));
	static const char want[] = "\"a\\\"b\\\\c\\u000a\\u0001\"";
	test_assert_mem_eq(b.data, b.len, want, sizeof(want) - 1);
	ks_buf_reset(&b);
	assert_ks_ok(ks_buf_append_json_str(&b, NULL));
	test_assert_mem_eq(b.data, b.len, "\"\"", 2);
	ks_buf_free(&b);

	char hex[2 * 4 + 1];
	ks_hex_encode((const uint8_t *)"\x00\x1f\xa0\xff", 4, hex);
	assert_string_equal(hex, "001fa0ff");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_sticky_read),
		cmocka_unit_test(test_sticky_write),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_buf_text),
	};
	return test_run_group(tests, NULL, NULL);
}
