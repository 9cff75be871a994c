/* SPDX-License-Identifier: MIT */
/*
 * Scheduling of the node's threads: whole-database work (the replication
 * worker, the side-KDB writer, the kprop listener's loads and pushes) runs
 * below the event loop's priority, so that the loop, which answers status,
 * sends keepalives and acknowledgements and reads the network, gets a CPU
 * as soon as it wakes even when those threads keep every core busy (on two
 * cores a full copy runs three of them; at equal priority the loop waited
 * for a time slice, up to tens of ms, with under 3 ms of its own work).
 */
#pragma once

/* How much lower (a nice increment, Linux: per thread). */
#define KS_THREAD_BACKGROUND_NICE 5

/**
 * \brief Lower the calling thread's priority by KS_THREAD_BACKGROUND_NICE,
 *        once per thread (later calls do nothing).  Best effort: where the
 *        system refuses, the thread keeps its priority.  Call it from the
 *        thread itself, never from the loop's.
 */
void ks_thread_background(void);
