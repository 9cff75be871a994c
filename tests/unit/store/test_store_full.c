/* SPDX-License-Identifier: MIT */
/*
 * A store on a full file system: a 4 MiB tmpfs mounted in a private mount
 * namespace of this process (gone with it; unmounted at the end anyway).
 * Commits fail with "no space left on device" from the first failure (LMDB
 * reports short page writes as EIO), nothing half-written is visible, and
 * commits succeed again once space is freed.  Skipped where the process may
 * not make a mount namespace (not root).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "store/store.h"
#include "helpers/test.h"

static int commit_one(store_t *s, unsigned i, size_t len)
{
	char key[32];
	static char val[300000];
	memset(val, 'v', sizeof(val));
	snprintf(key, sizeof(key), "princ/user%06u", i);
	store_change_t ch = { .op = STORE_PUT,
			      .key = { (const uint8_t *)key, strlen(key) },
			      .value = { (const uint8_t *)val, len } };
	uint64_t first, last;
	return store_commit(s, &ch, 1, 1, &first, &last);
}

static uint64_t records(store_t *s)
{
	store_txn_t *t;
	store_meta_t m;
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_meta_get(t, &m));
	store_read_end(t);
	return m.record_count;
}

/* One store filling a fresh tmpfs: \p map is its initial map size (small:
 * growth is what meets the full file system), \p len the record size
 * (large: multi-page writes, which LMDB sees cut short). */
static void fill(size_t map, size_t len)
{
	char *dir = test_mkdtemp("ks-full");
	char mnt[600], sdir[700], filler[700];

	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=4m,mode=0700") != 0) {
		test_rmtree_free(dir);
		skip();
	}
	snprintf(sdir, sizeof(sdir), "%s/store", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	/* 1 MiB held back, to free later */
	int fd = open(filler, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	static char mb[1 << 20];
	assert_int_equal(write(fd, mb, sizeof(mb)), (ssize_t)sizeof(mb));
	close(fd);

	store_t *s;
	store_opts_t o = { .map_size = map };
	assert_ks_ok(store_open(sdir, &o, &s));
	int ret = KS_EOK;
	unsigned i;
	for (i = 0; i < 5000 && ret == KS_EOK; i++)
		ret = commit_one(s, i, len);
	assert_true(i > 3); /* some fit */
	if (ret != KS_ENOSPC)
		fail_msg(
			"map %zu, records of %zu bytes: first failure after "
			"%u commits: %s (%s), expected no space left on device",
			map, len, i, ks_errname(ret), ks_strerror(ret));
	assert_string_equal(ks_strerror(ret), "no space left on device");
	uint64_t n = records(s);
	assert_int_equal(n, i - 1); /* the failed commit left nothing */
	/* still full: still the same error */
	assert_ks_err(commit_one(s, 100000, len), KS_ENOSPC);
	assert_int_equal(records(s), n);
	/* space returns: commits work again */
	assert_int_equal(unlink(filler), 0);
	assert_ks_ok(commit_one(s, 100001, 3000));
	assert_int_equal(records(s), n + 1);
	store_close(s);
	assert_int_equal(umount(mnt), 0);
	test_rmtree_free(dir);
}

static void test_full_file_system(void **state)
{
	(void)state;
	fill(64u << 20, 3000);	 /* page writes refused */
	fill(64u << 20, 200000); /* multi-page writes cut short */
	fill(256u << 10, 3000);	 /* the map cannot grow */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file_system),
	};
	ks_log_set_level_all(LOG_WARNING);
	return test_run_group(tests, NULL, NULL);
}
