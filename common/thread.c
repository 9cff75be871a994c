/* SPDX-License-Identifier: MIT */
/* Background priority for database threads (common/thread.h). */
#include "common/thread.h"

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

void ks_thread_background(void)
{
	static _Thread_local bool done;

	if (done)
		return;
	done = true;
	/* Linux keeps the nice value per thread: nice() changes only the
	 * calling thread's.  -1 may be a valid result (errno tells); a
	 * refusal leaves the priority as it was, which still works. */
	errno = 0;
	if (nice(KS_THREAD_BACKGROUND_NICE) == -1 && errno != 0)
		return;
}
