/* SPDX-License-Identifier: MIT */
/*
 * Project-wide error codes.  Every fallible function in kdcsync returns 0
 * (KS_EOK) or one of the negative codes below.  POSIX errors map one to one
 * (KS_ENOMEM == -ENOMEM); project codes start at -1000 and are grouped by area.
 * One X-macro list generates the enum, ks_errname() and ks_strerror(), so the
 * names and messages cannot drift from the codes.
 *
 * Foreign error spaces (LMDB, OpenSSL, krb5, libuv) never leak past the one
 * file that calls each library: that file logs the detail and returns one of
 * these codes.
 */
#pragma once

#include <errno.h>

/* POSIX errors we name; any other errno is still valid as -errno. */
#define KS_POSIX_ERRORS(XX)                                                    \
	XX(ENOMEM, "out of memory")                                            \
	XX(EINVAL, "invalid argument")                                         \
	XX(ENOENT, "not found")                                                \
	XX(EEXIST, "already exists")                                           \
	XX(EIO, "input/output error")                                          \
	XX(EAGAIN, "try again")                                                \
	XX(EBUSY, "busy")                                                      \
	XX(EACCES, "permission denied")                                        \
	XX(ENOSPC, "no space left on device")                                  \
	XX(ERANGE, "value out of range")                                       \
	XX(ENOTSUP, "not supported")                                           \
	XX(ETIMEDOUT, "timed out")                                             \
	XX(ECONNREFUSED, "connection refused")                                 \
	XX(ECONNRESET, "connection reset")                                     \
	XX(EPIPE, "broken pipe")                                               \
	XX(EINTR, "interrupted")                                               \
	XX(ECANCELED, "cancelled")                                             \
	XX(EINPROGRESS, "in progress")                                         \
	XX(EADDRINUSE, "address in use")                                       \
	XX(ENAMETOOLONG, "name too long")

/*
 * Project errors: XX(NAME, value, message).  Values are fixed forever once
 * released (they may appear on the wire in error messages); append, never
 * renumber.
 */
#define KS_PROJECT_ERRORS(XX)                                                  \
	/* general */                                                          \
	XX(EINTERNAL, -1000, "internal error")                                 \
	XX(EMALF, -1001, "malformed input")                                    \
	XX(ELIMIT, -1002, "limit exceeded")                                    \
	XX(EVERSION, -1003, "unsupported version")                             \
	XX(ESTATE, -1004, "operation not valid in this state")                 \
	XX(ENOTAVAIL, -1005, "not available yet")                              \
	XX(ETRUNC, -1006, "truncated input")                                   \
	XX(ETRAILING, -1007, "trailing data after end of input")               \
	XX(ESTOPPING, -1008, "kdcsyncd is stopping")                           \
	/* store */                                                            \
	XX(ESPACE, -1100, "store is full")                                     \
	XX(EFORMAT, -1101, "store format version mismatch")                    \
	XX(ECORRUPT, -1102, "store invariant violated")                        \
	XX(ELMDB, -1103, "LMDB error")                                         \
	XX(EREADERS, -1104, "too many store readers")                          \
	/* protocol */                                                         \
	XX(ETOOBIG, -1200, "frame exceeds maximum size")                       \
	XX(ETYPE, -1201, "unknown message type")                               \
	XX(ESIG, -1202, "signature verification failed")                       \
	XX(EUNTRUSTED, -1203, "signed by an untrusted key")                    \
	XX(ECOMPRESS, -1204, "compression error")                              \
	XX(EBOMB, -1205, "decompressed size exceeds limit")                    \
	XX(EDIGEST, -1206, "digest mismatch")                                  \
	XX(ECRYPTO, -1207, "cryptographic library error")                      \
	XX(EKEY, -1208, "bad or unreadable key")                               \
	XX(EPEER, -1209, "peer reported an error")                             \
	XX(ECOUNT, -1210, "count does not match payload")                      \
	XX(EREALM, -1211, "peer serves another realm")                         \
	/* tls / network */                                                    \
	XX(ETLS, -1300, "TLS error")                                           \
	XX(ECERT, -1301, "peer certificate not trusted")                       \
	XX(EPEERNAME, -1302, "peer certificate names an unexpected peer")      \
	XX(ENOCERT, -1303, "peer presented no certificate")                    \
	XX(ECLOSED, -1304, "connection closed")                                \
	XX(ENET, -1305, "network error")                                       \
	/* kerberos */                                                         \
	XX(EKRB5, -1400, "Kerberos library error")                             \
	XX(EKDB, -1401, "Kerberos database error")                             \
	XX(EKPROP, -1402, "kprop protocol error")                              \
	XX(EACL, -1403, "client not authorised by ACL")                        \
	XX(EAUTH, -1404, "authentication failed")                              \
	XX(EKDBLOCK, -1405, "Kerberos database is locked")                     \
	XX(EKDBFULL, -1406, "KDB filesystem full")                             \
	XX(EMKEY, -1407,                                                       \
	   "this KDC's stash cannot decrypt the master key list")              \
	XX(EKDBDAMAGED, -1408, "Kerberos database damaged")                    \
	/* configuration */                                                    \
	XX(ECONFIG, -1500, "configuration error")                              \
	XX(ECONFKEY, -1501, "unknown configuration key")                       \
	XX(ECONFVAL, -1502, "bad configuration value")                         \
	/* replication */                                                      \
	XX(EHISTORY, -1600, "history id mismatch")                             \
	XX(EGAP, -1601, "sequence gap")                                        \
	XX(ESTALE, -1602, "position outside retained log")

enum ks_error {
	KS_EOK = 0,
#define KS__POSIX_ENUM(name, msg) KS_##name = -name,
	KS_POSIX_ERRORS(KS__POSIX_ENUM)
#undef KS__POSIX_ENUM
#define KS__PROJ_ENUM(name, val, msg) KS_##name = val,
	KS_PROJECT_ERRORS(KS__PROJ_ENUM)
#undef KS__PROJ_ENUM
};

/**
 * \brief Message for an error code.
 * \return a static string; never NULL.  Unknown codes in the errno range use
 *         strerror(); anything else yields "unknown error".
 */
const char *ks_strerror(int code);

/**
 * \brief Symbolic name of an error code ("KS_EMALF", "KS_ENOMEM").
 * \return a static string; "KS_EOK" for 0 and "KS_E?" for unknown codes.
 */
const char *ks_errname(int code);

/** \brief Turn a positive errno value into a KS code (-errno), 0 stays 0. */
static inline int ks_errno(int e)
{
	return e > 0 ? -e : (e == 0 ? 0 : e);
}
