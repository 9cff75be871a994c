/* SPDX-License-Identifier: MIT */
/*
 * One user of the KDB at a time in this process.
 *
 * libkdb5's DB2 module keeps process-wide state (a module mutex) next to
 * per-open-file-description locks on the database files, so two threads of
 * one process that each hold a bridge_t can wait for each other forever (a
 * kprop load taking the live DB's exclusive lock while a scan holds its
 * shared lock, each needing the module mutex the other holds).  So every
 * thread that opens or uses a bridge_t holds this lock meanwhile: the
 * replication worker around each of its jobs (node/repl/worker.c), the kprop
 * listener for the whole of one transfer (node/kprop/serve.c).  The others
 * wait their turn; the event loop never takes it.
 *
 * Process-wide, not recursive; any thread but the loop's.
 */
#pragma once

/** \brief Wait for, then take, the KDB. */
void node_kdb_lock(void);

/**
 * \brief Wait for the KDB like node_kdb_lock(), but give up when *\p cancel
 *        becomes nonzero (checked every 20 ms; read with an atomic load),
 *        so that a thread waiting here can be stopped and joined promptly.
 * \param cancel NULL: wait as long as it takes.
 * \return 0 with the lock held, or KS_ECANCELED without it.
 */
int node_kdb_lock_wait(const volatile int *cancel);

/** \brief Give the KDB back. */
void node_kdb_unlock(void);
