/* SPDX-License-Identifier: MIT */
/*
 * Capture reports: what the KDB module (bridge/kdbmod) tells the local node
 * after each successful write to the KDB, one SOCK_SEQPACKET message each.
 * Shared by the module (encoder, inside MIT programs) and the node
 * (decoder); pure code over bytes, no krb5, no sockets, no allocation.
 *
 * Message layout (big-endian, exactly KS_REPORT_HDR_LEN + name_len bytes):
 *
 *   off len field
 *     0   2 magic      'K' 'R'
 *     2   1 version    KS_REPORT_VERSION (1)
 *     3   1 kind       enum ks_report_kind
 *     4   1 flags      KS_REPORT_F_*; unknown bits are refused
 *     5   1 reserved   0
 *     6   2 name_len   bytes of name that follow (<= KS_REPORT_NAME_MAX)
 *     8   8 id         the sender's message counter on this connection,
 *                      from 1; an answer names the request it answers
 *                      by this id
 *    16   4 dropped    reports the sending process could not send (socket
 *                      buffer full, node busy) since its previous message
 *                      got through; nonzero means the node must scan
 *    20   4 reserved   0
 *    24   N name       principal name as krb5_unparse_name writes it
 *                      (with realm), or policy name; no NUL; empty for
 *                      KS_REPORT_LOAD and KS_REPORT_LOST
 *
 * Which kinds carry a name and what the node does with each is in the enum.
 * Synchronous mode ([node] synchronous): the module sets KS_REPORT_F_REPLY
 * on every report of a write that waits (all kinds but lockout) and then
 * waits (a bounded poll) for a KS_REPORT_ANSWER with the same id, which the
 * node sends once enough replicas applied the change, at sync_timeout, or
 * at once when it is not in synchronous mode.  The module asks only while
 * the node's marker file (socket path + KS_REPORT_SYNC_SUFFIX, holding
 * sync_timeout in milliseconds as decimal text) exists, so an asynchronous
 * or stopped node costs a write no wait.
 *
 * Master key changes (KS_REPORT_MKEY) ask for an answer in every mode
 * (unless the writer holds the DB lock, when the node could not read), and
 * the node answers only after the capture job that logged that K/M state
 * (in synchronous mode, also after the replicas): the node re-reads K/M
 * when it captures, so a writer that went on at once could replace a K/M
 * state (add_mkey's, which carries the new key encrypted under the old)
 * before the node read it, and replicas would never see it.  The module
 * waits at most its kdcsync_mkey_wait (bridge/kdbmod/send.c).
 *
 * The only message the node sends is the answer; the only one the module
 * ignores is an answer to a request it stopped waiting for.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The module's [dbmodules] db_library name, and the db_arg with which the
 * node's bridge opens the KDB so that its own writes are not reported. */
#define KS_REPORT_MODULE    "kdcsync"
#define KS_REPORT_QUIET_ARG "kdcsync_quiet"

/* The synchronous mode's marker next to the capture socket. */
#define KS_REPORT_SYNC_SUFFIX ".sync"

#define KS_REPORT_VERSION  1
#define KS_REPORT_HDR_LEN  24
#define KS_REPORT_NAME_MAX 16384 /* longer names: see KS_REPORT_LOST */
#define KS_REPORT_MAX_LEN  (KS_REPORT_HDR_LEN + KS_REPORT_NAME_MAX)

/* Values are fixed on the wire: append, never renumber. */
enum ks_report_kind {
	KS_REPORT_PRINC_PUT = 1,  /* name: principal stored (create, modify,
				    rename target, kdb5_util load -update) */
	KS_REPORT_PRINC_DEL = 2,  /* name: principal deleted (or renamed) */
	KS_REPORT_POLICY_PUT = 3, /* name: policy created or modified */
	KS_REPORT_POLICY_DEL = 4, /* name: policy deleted */
	KS_REPORT_LOCKOUT = 5,	  /* name: the KDC wrote lockout fields
				     (last_success, last_failed,
				     fail_auth_count) of this principal */
	KS_REPORT_MKEY = 6,	  /* name: the master key principal was stored
				(add_mkey, use_mkey, purge_mkeys); asks
				for an answer (above) */
	KS_REPORT_LOAD = 7,	  /* no name: a whole new DB was installed
				(kdb5_util load without -update) */
	KS_REPORT_LOST = 8,	  /* no name: changes happened that could not be
				reported one by one (a name too long for a
				report); like dropped > 0, the node scans */
	KS_REPORT_ANSWER = 9,	  /* no name; node -> module: the request with
				this id may return (synchronous mode) */
	KS_REPORT_KIND_COUNT	  /* one past the last kind */
};

#define KS_REPORT_F_REPLY 0x01u /* the sender waits for an answer */
#define KS_REPORT_F_KNOWN KS_REPORT_F_REPLY

typedef struct ks_report {
	uint8_t kind; /* enum ks_report_kind */
	uint8_t flags;
	uint64_t id;
	uint32_t dropped;
	const char *name; /* borrowed from the message; NOT NUL-terminated */
	size_t name_len;
} ks_report_t;

/** \brief Name of a kind for logs and status ("princ_put", ...; "?"). */
const char *ks_report_kind_name(unsigned kind);

/**
 * \brief Encode one report into \p buf (at least KS_REPORT_HDR_LEN +
 *        r->name_len bytes).
 * \param out_len written on success: the message length.
 * \retval KS_EINVAL unknown kind or flags, a name where none belongs or
 *         none where one must be, a NUL in the name
 * \retval KS_ELIMIT name longer than KS_REPORT_NAME_MAX, or \p cap too small
 */
int ks_report_encode(const ks_report_t *r, uint8_t *buf, size_t cap,
		     size_t *out_len);

/**
 * \brief Decode one whole message.  \p out->name points into \p msg.
 * \retval KS_EMALF bad magic, reserved bytes not zero, unknown flags, a
 *         name on a kind that has none (or none where one is needed), a NUL
 *         in the name, id 0, length not exactly header + name_len
 * \retval KS_ETRUNC shorter than the header
 * \retval KS_EVERSION another version
 * \retval KS_ETYPE unknown kind
 * \retval KS_ELIMIT name_len above KS_REPORT_NAME_MAX
 * Nothing is written to \p out on error.
 */
int ks_report_decode(const uint8_t *msg, size_t len, ks_report_t *out);
