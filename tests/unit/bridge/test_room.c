/* SPDX-License-Identifier: MIT */
/* The room a batch needs on the KDB's file system (bridge_room_needed). */
#include <string.h>

#include "bridge/bridge.h"
#include "helpers/test.h"

static store_change_t put(const char *key, size_t vlen)
{
	static char v[20000];
	return (store_change_t){ .op = STORE_PUT,
				 .key = { (const uint8_t *)key, strlen(key) },
				 .value = { (const uint8_t *)v, vlen } };
}

static void test_needed(void **state)
{
	(void)state;
	const uint64_t r = BRIDGE_ROOM_RESERVE, lv = BRIDGE_ROOM_LEVELS;
	store_change_t ch[4];

	/* nothing to write: the reserve only */
	assert_int_equal(bridge_room_needed(NULL, 0, 4096), r);
	ch[0] = (store_change_t){ .op = STORE_DEL,
				  .key = { (const uint8_t *)"Px", 2 } };
	assert_int_equal(bridge_room_needed(ch, 1, 4096), r);
	/* a small record: one page, plus a split of every level */
	ch[1] = put("Palice@R", 500);
	assert_int_equal(bridge_room_needed(ch, 2, 4096), r + 4096 + lv * 4096);
	/* a record over a page: whole overflow pages */
	ch[2] = put("Pbig@R", 9000);
	assert_int_equal(bridge_room_needed(ch, 3, 4096),
			 r + (4096 + lv * 4096) + (3 * 4096 + lv * 4096));
	/* never less than 4 KiB pages; larger blocks count as they are */
	assert_int_equal(bridge_room_needed(ch, 2, 512), r + 4096 + lv * 4096);
	assert_int_equal(bridge_room_needed(ch, 2, 65536),
			 r + 65536 + lv * 65536);
	/* monotonic in the batch */
	ch[3] = put("Pcarol@R", 100);
	assert_true(bridge_room_needed(ch, 4, 4096) >
		    bridge_room_needed(ch, 3, 4096));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_needed),
	};
	return test_run_group(tests, NULL, NULL);
}
