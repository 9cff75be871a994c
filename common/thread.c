/* SPDX-License-Identifier: MIT */
/* Background priority for database threads (common/thread.h). */
#include "common/thread.h"

#include <stdbool.h>
#include <unistd.h>

void ks_thread_background(void)
{
	static _Thread_local bool done;

	if (done)
		return;
	done = true;
	/* Linux keeps the nice value per thread: nice() changes only the
	 * calling thread's.  A refusal (-1 with errno set) leaves the
	 * priority as it was, which still works: nothing to do either way. */
	int ret = nice(KS_THREAD_BACKGROUND_NICE);
	(void)ret;
}
