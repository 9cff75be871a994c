/* SPDX-License-Identifier: MIT */
/*
 * The side-KDB writer of a full copy: a helper thread of the database
 * worker that puts parsed records into the side database (libkdb5, one
 * record at a time: the costly part of a copy) while the worker goes on
 * with the next chunk (signature check, decompression, store staging,
 * parsing).  The two cores a copy has are both busy that way.
 *
 * Ownership: the worker owns the loader and the bridge_load_t it writes
 * (node/repl/worker.h).  Between node_repl_loader_start() and _stop() the
 * load's side-DB context is the loader thread's: the worker only parses
 * (bridge_load_parse, the bridge's own context), hands parts over, and
 * waits (_drain) before anything else touches the load (commit, abort, a
 * master key record).  A part handed over belongs to the loader until
 * it is written; the thread then hands it back and the worker frees it at
 * its next call (_put, _drain, _stop), so the writer, the copy's critical
 * path, spends its time in the side DB only.  At most LOADER_DEPTH parts
 * wait, and at most LOADER_DEPTH + 1 written ones: _put blocks the worker
 * beyond that (bounded memory, and the worker cannot outrun the writer).
 * Errors are sticky: after the first, parts are freed unput and every
 * call returns it.  Worker-thread calls only; no other thread may call.
 * The thread runs outside the process-wide KDB lock (node/kdb_lock.h),
 * also between the worker's jobs: it touches only the side DB, which is
 * the worker's from bridge_load_begin to commit or abort (the live KDB
 * and the store stay the worker's alone; libkdb5's db2 back end
 * serialises the two threads' calls).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bridge/bridge.h"

typedef struct node_repl_loader node_repl_loader_t;

/** \brief Start a writer thread for \p load. */
int node_repl_loader_start(bridge_load_t *load, node_repl_loader_t **out);

/**
 * \brief Hand over \p n parsed records (the array and each record become
 *        the loader's).  Blocks while the queue is full.
 * \return KS_EOK or the sticky error.
 */
int node_repl_loader_put(node_repl_loader_t *ld, bridge_load_rec_t **recs,
			 uint32_t n);

/** \brief Wait until every part handed over is written; the sticky error. */
int node_repl_loader_drain(node_repl_loader_t *ld);

/**
 * \brief Stop and join the thread, free \p ld (NULL is fine).  What is
 *        queued is written first, or with \p cancel freed unwritten (the
 *        part being written is finished either way).
 * \param put_us receives the thread's time spent putting (may be NULL).
 * \return the sticky error (KS_ECANCELED after a cancel).
 */
int node_repl_loader_stop(node_repl_loader_t *ld, bool cancel,
			  uint64_t *put_us);
