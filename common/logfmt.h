/* SPDX-License-Identifier: MIT */
/*
 * Values for key=value log lines (logfmt, as journald and log shippers
 * parse them): one line per replication session, transfer and reload,
 * e.g.  "session peer=kdc2 kind=incremental from_seq=5 to_seq=9 ... ms=3
 * result=ok".  Keys are fixed words; values pass through ks_logfmt().
 */
#pragma once

#include <stddef.h>

/**
 * \brief \p v as a logfmt value in \p buf: bare when it is non-empty and
 *        has no space, quote, '=', backslash or control character;
 *        otherwise double-quoted with \" and \\ escaped and control
 *        characters as spaces.  Cut to fit \p len (always terminated).
 * \return \p buf.
 */
const char *ks_logfmt(const char *v, char *buf, size_t len);
