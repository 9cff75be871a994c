/* SPDX-License-Identifier: MIT */
/* The store's map size and use, for status and metrics (store.h). */
#include "store/db.h"
#include "store/internal.h"
#include "store/store.h"

void store_usage(store_t *s, uint64_t *map_bytes, uint64_t *used_bytes)
{
	*map_bytes = db_map_size(s->env);
	*used_bytes = db_used_bytes(s->env);
}
