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
