/* SPDX-License-Identifier: MIT */
/* The side-KDB writer thread of a full copy (loader.h). */
#include "node/repl/loader.h"

#include <stdbool.h>
#include <stdlib.h>

#include <uv.h>

#include "common/errors.h"
#include "common/thread.h"
#include "common/time.h"

#define LOADER_DEPTH 2u /* parts waiting, besides the one being written */

typedef struct part {
	struct part *next;
	bridge_load_rec_t **recs;
	uint32_t n;
} part_t;

struct node_repl_loader {
	bridge_load_t *load;
	uv_thread_t thread;
	uv_mutex_t mu;	/* guards everything below */
	uv_cond_t cond; /* worker -> thread: a part, or stop */
	uv_cond_t room; /* thread -> worker: a part done */
	part_t *head, *tail;
	part_t *done;	 /* written parts, for the worker to free */
	unsigned queued; /* parts in the queue */
	bool writing;	 /* the thread holds a part */
	bool stopping;
	int err;
	uint64_t put_ns;
};

static void part_free(bridge_load_t *load, part_t *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		bridge_load_rec_free(load, p->recs[i]);
	free(p->recs);
	free(p);
}

/* The parts the thread has written, freed here on the worker: the records
 * were allocated on the worker, and the writer, the copy's critical path,
 * spends its time in the side DB only. */
static void free_done(node_repl_loader_t *ld)
{
	uv_mutex_lock(&ld->mu);
	part_t *p = ld->done;
	ld->done = NULL;
	uv_mutex_unlock(&ld->mu);
	while (p != NULL) {
		part_t *next = p->next;
		part_free(ld->load, p);
		p = next;
	}
}

static void loader_main(void *arg)
{
	node_repl_loader_t *ld = arg;

	ks_thread_background(); /* the loop comes first (common/thread.h) */
	uv_mutex_lock(&ld->mu);
	for (;;) {
		while (ld->head == NULL && !ld->stopping)
			uv_cond_wait(&ld->cond, &ld->mu);
		if (ld->head == NULL)
			break; /* stopping, drained */
		part_t *p = ld->head;
		ld->head = p->next;
		if (ld->head == NULL)
			ld->tail = NULL;
		ld->queued--;
		ld->writing = true;
		int err = ld->err;
		uv_mutex_unlock(&ld->mu);

		uint64_t t0 = ks_mono_ns();
		for (uint32_t i = 0; err == KS_EOK && i < p->n; i++)
			err = bridge_load_put_parsed(ld->load, p->recs[i]);
		uint64_t took = ks_mono_ns() - t0;

		uv_mutex_lock(&ld->mu);
		p->next = ld->done;
		ld->done = p;
		ld->put_ns += took;
		if (ld->err == KS_EOK)
			ld->err = err;
		ld->writing = false;
		uv_cond_signal(&ld->room);
	}
	uv_mutex_unlock(&ld->mu);
}

int node_repl_loader_start(bridge_load_t *load, node_repl_loader_t **out)
{
	node_repl_loader_t *ld = calloc(1, sizeof(*ld));

	*out = NULL;
	if (ld == NULL)
		return KS_ENOMEM;
	ld->load = load;
	if (uv_mutex_init(&ld->mu) != 0) {
		free(ld);
		return KS_ENOMEM;
	}
	if (uv_cond_init(&ld->cond) != 0)
		goto fail_mu;
	if (uv_cond_init(&ld->room) != 0)
		goto fail_cond;
	if (uv_thread_create(&ld->thread, loader_main, ld) != 0)
		goto fail_room;
	*out = ld;
	return KS_EOK;
fail_room:
	uv_cond_destroy(&ld->room);
fail_cond:
	uv_cond_destroy(&ld->cond);
fail_mu:
	uv_mutex_destroy(&ld->mu);
	free(ld);
	return KS_ENOMEM;
}

int node_repl_loader_put(node_repl_loader_t *ld, bridge_load_rec_t **recs,
			 uint32_t n)
{
	part_t *p;
	int err;

	free_done(ld);
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		for (uint32_t i = 0; i < n; i++)
			bridge_load_rec_free(ld->load, recs[i]);
		free(recs);
		return KS_ENOMEM;
	}
	p->recs = recs;
	p->n = n;
	uv_mutex_lock(&ld->mu);
	while (ld->queued >= LOADER_DEPTH && ld->err == KS_EOK)
		uv_cond_wait(&ld->room, &ld->mu);
	err = ld->err;
	if (err == KS_EOK) {
		if (ld->tail != NULL)
			ld->tail->next = p;
		else
			ld->head = p;
		ld->tail = p;
		ld->queued++;
		uv_cond_signal(&ld->cond);
		p = NULL;
	}
	uv_mutex_unlock(&ld->mu);
	if (p != NULL)
		part_free(ld->load, p); /* the sticky error: not written */
	return err;
}

int node_repl_loader_drain(node_repl_loader_t *ld)
{
	int err;

	uv_mutex_lock(&ld->mu);
	while (ld->head != NULL || ld->writing)
		uv_cond_wait(&ld->room, &ld->mu);
	err = ld->err;
	uv_mutex_unlock(&ld->mu);
	free_done(ld);
	return err;
}

int node_repl_loader_stop(node_repl_loader_t *ld, bool cancel, uint64_t *put_us)
{
	int err;

	if (ld == NULL)
		return KS_EOK;
	uv_mutex_lock(&ld->mu);
	ld->stopping = true;
	if (cancel && ld->err == KS_EOK)
		ld->err = KS_ECANCELED;
	uv_cond_signal(&ld->cond);
	uv_mutex_unlock(&ld->mu);
	uv_thread_join(&ld->thread); /* at most the part it is writing */
	free_done(ld);
	err = ld->err;
	if (put_us != NULL)
		*put_us = ld->put_ns / 1000;
	uv_cond_destroy(&ld->room);
	uv_cond_destroy(&ld->cond);
	uv_mutex_destroy(&ld->mu);
	free(ld);
	return err;
}
