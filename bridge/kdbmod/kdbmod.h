/* SPDX-License-Identifier: MIT */
/*
 * Inside the KDB module "kdcsync" (bridge/kdbmod): the interface between
 * the vtable that wraps the real back end (module.c) and the sender of
 * capture reports to the local node (send.c).
 *
 * Everything here is process-wide state of the MIT program that loaded the
 * module (krb5kdc, kadmind, kadmin.local, kdb5_util, kpropd, kdcsyncd),
 * guarded by its own mutex, so any thread may call any function.  Nothing
 * here ever returns an error to a write or blocks one, except that in
 * synchronous mode a write waits (bounded) for the node's answer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default socket of a node whose [node] state_dir is /var/lib/kdcsync. */
#define KDBMOD_DEFAULT_SOCKET "/var/lib/kdcsync/capture.sock"
/* The environment variable that overrides [dbmodules] kdcsync_socket. */
#define KDBMOD_SOCKET_ENV "KDCSYNC_CAPTURE_SOCKET"

/**
 * \brief Set the node's socket path unless one is set already (the first
 *        database opened in the process decides; the environment variable
 *        wins over every profile).  \p path borrowed; NULL = the default.
 *        A path too long for sockaddr_un disables reporting.
 * \param mkey_wait_ms how long a master key change (KS_REPORT_MKEY) waits
 *        for the node to confirm its capture; 0 = no wait, < 0 = the
 *        default (30 s).
 */
void kdbmod_send_configure(const char *path, long mkey_wait_ms);

/**
 * \brief Report one change (kind from bridge/report.h).  Non-blocking:
 *        connects at the first report (and again after a node restart),
 *        sends with MSG_DONTWAIT; a full socket buffer counts the report as
 *        dropped (the next message that gets through carries the count, so
 *        the node scans); no listening node means nothing is sent (the
 *        node's start-up scan catches up).  A name too long for a report
 *        becomes a KS_REPORT_LOST report.  Synchronous mode (the node's
 *        marker file exists; kinds other than lockout): the report asks
 *        for an answer and this waits for it, at most the node's
 *        sync_timeout plus a second.  A KS_REPORT_MKEY always asks and
 *        waits (at least the configured mkey wait) unless this process
 *        holds the DB lock (kdbmod_send_mkey below).
 * \param name borrowed; may be NULL for kinds without a name.
 */
void kdbmod_send(uint8_t kind, const char *name, size_t len);

/**
 * \brief kdbmod_send of a KS_REPORT_MKEY.  \p rollover: the K/M state holds
 *        several master keys (a rollover under way), a state replicas must
 *        see to follow it, so one that no node confirms is said on stderr
 *        and to syslog.
 */
void kdbmod_send_mkey(const char *name, size_t len, bool rollover);

/**
 * \brief At database close: if reports were dropped and none got through
 *        since, try (for at most ~100 ms, never during a write) to deliver
 *        a KS_REPORT_LOST so the node knows to scan.
 */
void kdbmod_send_flush(void);

/** \brief The process took (+1) or released (-1) the DB lock: while it
 *         holds one its writes do not wait (the node could not read). */
void kdbmod_send_locked(int delta);

/** \brief Close the connection (module unload). */
void kdbmod_send_close(void);
