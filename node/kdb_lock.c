/* SPDX-License-Identifier: MIT */
/* The process-wide KDB lock (kdb_lock.h). */
#include "node/kdb_lock.h"

#include <pthread.h>

static pthread_mutex_t kdb = PTHREAD_MUTEX_INITIALIZER;

void node_kdb_lock(void)
{
	(void)pthread_mutex_lock(&kdb);
}

void node_kdb_unlock(void)
{
	(void)pthread_mutex_unlock(&kdb);
}
