/* SPDX-License-Identifier: MIT */
/*
 * store_poke: change a stopped replica's store behind its node's back, for
 * the tests of `kdcsync verify PEER`.  The changes are applied as one batch
 * at the applied position + 1 under the applied history (store_apply), as
 * if a batch had come from the primary: the store stays consistent, only
 * its content differs from the primary's.  With --fix the changes are
 * written over the records without a log entry or a new position
 * (store_fix): records damaged or lost, the position unchanged.
 *
 *   store_poke STORE_DIR [--fix] put KEY VALUE | del KEY [...]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "store/store.h"

int main(int argc, char **argv)
{
	store_change_t ch[32];
	size_t n = 0;
	store_t *s = NULL;
	store_txn_t *t = NULL;
	store_meta_t m;
	int ret, i = 2;
	bool fix = argc > 2 && strcmp(argv[2], "--fix") == 0;

	if (fix)
		i++;

	while (i < argc && n < 32) {
		if (strcmp(argv[i], "put") == 0 && i + 2 < argc) {
			ch[n++] = (store_change_t){
				.op = STORE_PUT,
				.key = { (const uint8_t *)argv[i + 1],
					 strlen(argv[i + 1]) },
				.value = { (const uint8_t *)argv[i + 2],
					   strlen(argv[i + 2]) }
			};
			i += 3;
		} else if (strcmp(argv[i], "del") == 0 && i + 1 < argc) {
			ch[n++] = (store_change_t){
				.op = STORE_DEL,
				.key = { (const uint8_t *)argv[i + 1],
					 strlen(argv[i + 1]) }
			};
			i += 2;
		} else {
			break;
		}
	}
	if (argc < 3 || i != argc || n == 0) {
		fprintf(stderr, "usage: store_poke DIR [--fix] put KEY VALUE | "
				"del KEY [...]\n");
		return 2;
	}
	ret = store_open(argv[1], NULL, &s);
	if (ret == KS_EOK)
		ret = store_read_begin(s, &t);
	if (ret == KS_EOK) {
		ret = store_meta_get(t, &m);
		store_read_end(t);
	}
	if (ret == KS_EOK && fix) {
		ret = store_fix(s, ch, n);
		store_close(s);
		if (ret != KS_EOK) {
			fprintf(stderr, "store_poke: %s\n", ks_strerror(ret));
			return 1;
		}
		printf("wrote %zu changes over the records\n", n);
		return 0;
	}
	if (ret == KS_EOK) {
		store_batch_t b = { .first_seq = m.applied_seq + 1,
				    .commit_time_us = 1,
				    .ch = ch,
				    .n = n };
		memcpy(b.history, m.applied_history, sizeof(b.history));
		ret = store_apply(s, &b);
	}
	store_close(s);
	if (ret != KS_EOK) {
		fprintf(stderr, "store_poke: %s\n", ks_strerror(ret));
		return 1;
	}
	printf("applied %zu changes at seq %llu\n", n,
	       (unsigned long long)m.applied_seq + 1);
	return 0;
}
