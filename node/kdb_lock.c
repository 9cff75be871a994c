/* SPDX-License-Identifier: MIT */
/* The process-wide KDB lock (kdb_lock.h). */
#include "node/kdb_lock.h"

#include <pthread.h>
#include <time.h>

#include "common/errors.h"

static pthread_mutex_t kdb = PTHREAD_MUTEX_INITIALIZER;

void node_kdb_lock(void)
{
	(void)pthread_mutex_lock(&kdb);
}

void node_kdb_unlock(void)
{
	(void)pthread_mutex_unlock(&kdb);
}

int node_kdb_lock_wait(const volatile int *cancel)
{
	if (cancel == NULL) {
		node_kdb_lock();
		return KS_EOK;
	}
	for (;;) {
		struct timespec until;
		if (__atomic_load_n(cancel, __ATOMIC_ACQUIRE))
			return KS_ECANCELED;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 20 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		/* a waiter takes the lock as soon as it is given back */
		if (pthread_mutex_timedlock(&kdb, &until) == 0)
			return KS_EOK;
	}
}
