/* SPDX-License-Identifier: MIT */
/*
 * Start-up checks of every file a configuration names, run by `kdcsyncd -t`,
 * before the daemon starts and before a reload is accepted: a node never
 * runs with a file it cannot use (and never falls back to a compiled-in
 * default KDB, or to "replication disabled", because of one).
 *
 *   [node] kdc_profile            a readable regular file (also the default)
 *   [node] signing_key            an Ed25519 private key, mode 0600 or
 *                                 stricter (no group/other access)
 *   [node] trusted_keys           Ed25519 keys (their public halves are used)
 *   [tls] ca, cert                readable regular files
 *   [tls] key                     the same, and no group/other access
 *   [kprop] keytab (when set)     a readable regular file (FILE: prefix ok)
 *   [kprop] acl_file (listener)   a readable regular file
 *
 * node_preflight_kdb() then opens the KDB the kdc_profile names (read-only,
 * no record read: bridge_kdb_probe()): the database_name file, the
 * key_stash_file and libkdb5's open must work.  A replica whose database
 * file is missing or cannot be opened starts anyway and says so (it
 * rebuilds the KDB from its store, node/repl/kdb.c, or loads it from a
 * full copy); a bad profile or stash stops every node, and a primary
 * never starts without its KDB.
 *
 * Keys that are not set are not errors here (status explains what a node
 * without a signing key or trusted keys does).  Runs on the caller's
 * thread; no state.
 */
#pragma once

#include <stddef.h>

#include "node/conf.h"

/**
 * \brief Check the files of \p c.
 * \param err receives one line, "CONFIG: [section] key: 'FILE' ...".
 * \return 0, KS_ECONFVAL (the first unusable file), KS_ENOMEM.
 */
int node_preflight(const node_conf_t *c, char *err, size_t errlen);

/**
 * \brief Check that the KDB of \p c can be opened by a node in \p role.
 * \param err  receives one line naming the profile key and the file.
 * \param note a replica that will rebuild its KDB: one line saying so
 *             (else empty).
 * \return 0, KS_ECONFVAL, KS_ENOMEM.
 */
int node_preflight_kdb(const node_conf_t *c, enum node_role role, char *err,
		       size_t errlen, char *note, size_t notelen);
