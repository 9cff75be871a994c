/* SPDX-License-Identifier: MIT */
/* Room on the KDB's file system before an apply (see bridge.h). */
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "bridge/internal.h"
#include "common/errors.h"
#include "common/log.h"

uint64_t bridge_room_needed(const store_change_t *ch, size_t n, uint64_t page)
{
	/* per record: DB2's page header, key and data headers, and the
	 * key itself, generously */
	const uint64_t overhead = 128;
	uint64_t need = BRIDGE_ROOM_RESERVE;

	if (page < 4096)
		page = 4096;
	for (size_t i = 0; i < n; i++) {
		if (ch[i].op != STORE_PUT)
			continue;
		uint64_t bytes = ch[i].key.len + ch[i].value.len + overhead;
		need += (bytes + page - 1) / page * page +
			BRIDGE_ROOM_LEVELS * page;
	}
	return need;
}

/* Free bytes on the KDB's file system, and its directory (for logs);
 * false when the path is unknown (nothing to check against). */
static bool kdb_free(bridge_t *b, char *dir, size_t len, struct statvfs *vfs)
{
	char *d;

	if (b->db_path == NULL ||
	    (size_t)snprintf(dir, len, "%s", b->db_path) >= len)
		return false;
	d = dirname(dir);
	if (d != dir)
		memmove(dir, d, strlen(d) + 1);
	return statvfs(dir, vfs) == 0;
}

int bridge__kdb_room_bytes(bridge_t *b, uint64_t need, const char *what)
{
	char dir[4096];
	struct statvfs vfs;
	uint64_t free_bytes;

	if (!kdb_free(b, dir, sizeof(dir), &vfs))
		return KS_EOK;
	free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (free_bytes >= need)
		return KS_EOK;
	ks_log_err(KDB,
		   "KDB filesystem full: '%s' has %llu bytes free, %s needs "
		   "%llu; nothing written",
		   dir, (unsigned long long)free_bytes, what,
		   (unsigned long long)need);
	return KS_EKDBFULL;
}

int bridge_kdb_room(bridge_t *b, const store_change_t *ch, size_t n,
		    uint64_t *avail, uint64_t *need)
{
	char dir[4096];
	struct statvfs vfs;
	uint64_t free_bytes, want;

	if (avail != NULL)
		*avail = 0;
	if (need != NULL)
		*need = 0;
	if (b->db_path == NULL ||
	    (size_t)snprintf(dir, sizeof(dir), "%s", b->db_path) >=
		    sizeof(dir) ||
	    statvfs(dirname(dir), &vfs) != 0)
		return KS_EOK; /* nothing known to check against */
	free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	want = bridge_room_needed(ch, n, vfs.f_bsize);
	if (avail != NULL)
		*avail = free_bytes;
	if (need != NULL)
		*need = want;
	if (free_bytes >= want)
		return KS_EOK;
	ks_log_err(KDB,
		   "KDB filesystem full: '%s' has %llu bytes free, a batch of "
		   "%zu records needs %llu; nothing applied",
		   dir, (unsigned long long)free_bytes, n,
		   (unsigned long long)want);
	return KS_EKDBFULL;
}
