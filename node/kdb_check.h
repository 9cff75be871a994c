/* SPDX-License-Identifier: MIT */
/*
 * The KDB damage check in a process of its own: a torn DB2 file can crash
 * libkdb5, and a crash of the node would be a crash loop under systemd.  So
 * the replica runs bridge_kdb_check() (bridge/bridge.h) in a child,
 * `kdcsyncd --kdb-check PROFILE`, whose one-line verdict comes back on a
 * pipe; a child that crashes, or does not answer in time, found damage.
 *
 * node_kdb_check() blocks its caller until the verdict: the replication
 * worker calls it (never the loop).  node_kdb_check_set_exe() is called
 * once by kdcsyncd's main before any thread starts; without it (a program
 * other than kdcsyncd) the check runs in the calling process.
 */
#pragma once

#include <stdbool.h>

#include "bridge/bridge.h"

/* Longest a check may run before it counts as damage (a torn btree can
 * loop); a sound KDB of a million principals reads in a few seconds. */
#define NODE_KDB_CHECK_TIMEOUT_MS (10u * 60u * 1000u)

/** \brief The kdcsyncd executable to run the check with (copied). */
void node_kdb_check_set_exe(const char *path);

/** \brief Whether node_kdb_check() runs in a child process (an executable
 *         was set), so that its caller touches no KDB while it waits. */
bool node_kdb_check_isolated(void);

/**
 * \brief Check the KDB of \p kdc_profile (NULL: the default) for damage.
 * \return 0 sound (counts in \p out), KS_EKDBDAMAGED (out->why says
 *         what), or an error starting the check (KS_ENOMEM, -errno).
 */
int node_kdb_check(const char *kdc_profile, bridge_check_t *out);

/** \brief The child's side: check, print the verdict on stdout, return
 *         the exit status (0 sound, 1 damaged, 2 could not check). */
int node_kdb_check_main(const char *kdc_profile);
