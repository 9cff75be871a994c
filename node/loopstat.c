/* SPDX-License-Identifier: MIT */
/* The event loop's busy time per iteration (node/loopstat.h). */
#include "node/loopstat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"

#define BINS 64 /* one-second bins of the maximum: the last minute */

struct node_loopstat {
	uv_loop_t *loop;
	uv_prepare_t prep;
	bool have_last;
	uint64_t last_ns, last_idle_ns, last_cpu_ns;
	node_status_loop_t st;
	uint64_t bin_sec[BINS], bin_max_us[BINS], bin_cpu_us[BINS];
	void (*done)(void *);
	void *done_arg;
};

/* This thread's CPU time (0 if the clock is missing). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_prepare(uv_prepare_t *h)
{
	node_loopstat_t *s = h->data;
	uint64_t now = uv_hrtime();
	uint64_t idle = uv_metrics_idle_time(s->loop);
	uint64_t cpu = thread_cpu_ns();

	if (s->have_last) {
		uint64_t span = now - s->last_ns,
			 quiet = idle - s->last_idle_ns;
		uint64_t us = (quiet < span ? span - quiet : 0) / 1000;
		uint64_t cpu_us = (cpu - s->last_cpu_ns) / 1000;
		uint64_t sec = now / 1000000000u;
		unsigned b = (unsigned)(sec % BINS);
		s->st.iterations++;
		s->st.busy_us += us;
		if (us > s->st.busy_max_us)
			s->st.busy_max_us = us;
		s->st.over_10ms += us > 10000;
		s->st.over_100ms += us > 100000;
		ks_hist_observe(&s->st.busy, us);
		if (cpu_us > s->st.cpu_max_us)
			s->st.cpu_max_us = cpu_us;
		s->st.cpu_over_10ms += cpu_us > 10000;
		if (s->bin_sec[b] != sec) {
			s->bin_sec[b] = sec;
			s->bin_max_us[b] = s->bin_cpu_us[b] = 0;
		}
		if (us > s->bin_max_us[b])
			s->bin_max_us[b] = us;
		if (cpu_us > s->bin_cpu_us[b])
			s->bin_cpu_us[b] = cpu_us;
	}
	s->have_last = true;
	s->last_ns = now;
	s->last_idle_ns = idle;
	s->last_cpu_ns = cpu;
}

int node_loopstat_new(uv_loop_t *loop, node_loopstat_t **out)
{
	node_loopstat_t *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return KS_ENOMEM;
	/* idle time is counted from here on (libuv >= 1.39) */
	if (uv_loop_configure(loop, UV_METRICS_IDLE_TIME) != 0) {
		free(s);
		return KS_ENOTSUP;
	}
	s->loop = loop;
	s->st.present = true;
	uv_prepare_init(loop, &s->prep);
	s->prep.data = s;
	uv_prepare_start(&s->prep, on_prepare);
	uv_unref((uv_handle_t *)&s->prep);
	*out = s;
	return KS_EOK;
}

static void on_closed(uv_handle_t *h)
{
	node_loopstat_t *s = h->data;

	if (s->done != NULL)
		s->done(s->done_arg);
}

void node_loopstat_close(node_loopstat_t *s, void (*done)(void *), void *arg)
{
	s->done = done;
	s->done_arg = arg;
	uv_close((uv_handle_t *)&s->prep, on_closed);
}

void node_loopstat_free(node_loopstat_t *s)
{
	free(s);
}

void node_loopstat_get(const node_loopstat_t *s, node_status_loop_t *out)
{
	uint64_t sec = uv_hrtime() / 1000000000u;

	if (s == NULL) {
		*out = (node_status_loop_t){ 0 };
		return;
	}
	*out = s->st;
	out->busy_max_60s_us = out->busy_max_2s_us = out->cpu_max_2s_us = 0;
	for (unsigned i = 0; i < BINS; i++) {
		if (s->bin_sec[i] + 60 > sec &&
		    s->bin_max_us[i] > out->busy_max_60s_us)
			out->busy_max_60s_us = s->bin_max_us[i];
		if (s->bin_sec[i] + 2 > sec &&
		    s->bin_max_us[i] > out->busy_max_2s_us)
			out->busy_max_2s_us = s->bin_max_us[i];
		if (s->bin_sec[i] + 2 > sec &&
		    s->bin_cpu_us[i] > out->cpu_max_2s_us)
			out->cpu_max_2s_us = s->bin_cpu_us[i];
	}
}
