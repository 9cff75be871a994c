/* SPDX-License-Identifier: MIT */
/*
 * Logging: syslog levels, per-group thresholds, one line per event.
 *
 * Output goes to stderr by default ("2026-11-26T23:45:06.123Z info store:
 * message"); ks_log_open_syslog() switches to syslog.  Each call writes the
 * whole line with one write(2), so lines from several threads or processes
 * sharing stderr never interleave mid-line.
 *
 * Repeats are limited (log_limit.h): at most 10 identical lines from one
 * call site per minute, then "last message repeated K times in Ns: TEXT"
 * once that minute is over.  ks_log_limited() applies the same bound to a
 * call site whatever its text (lines about unauthenticated clients, whose
 * addresses vary).  Debug lines are never limited.
 *
 * Message style: lower-case, no trailing period, variable text in single
 * quotes, errors as "(%s)" with ks_strerror().  Secrets are never logged.
 */
#pragma once

#include <stdbool.h>
#include <syslog.h>

/* Log groups; array-indexed, keep _COUNT last. */
#define KS_LOG_GROUPS(XX)                                                      \
	XX(GENERAL, "general")                                                 \
	XX(STORE, "store")                                                     \
	XX(PROTO, "proto")                                                     \
	XX(KDB, "kdb")                                                         \
	XX(TLS, "tls")                                                         \
	XX(NET, "net")                                                         \
	XX(REPL, "repl")                                                       \
	XX(KPROP, "kprop")                                                     \
	XX(CONF, "conf")                                                       \
	XX(CTL, "ctl")

enum ks_log_group {
#define KS__LOG_GROUP_ENUM(name, str) KS_LOG_##name,
	KS_LOG_GROUPS(KS__LOG_GROUP_ENUM)
#undef KS__LOG_GROUP_ENUM
	KS_LOG_GROUP_COUNT
};

/** \brief Set the threshold of one group (LOG_ERR .. LOG_DEBUG). */
void ks_log_set_level(enum ks_log_group group, int level);

/** \brief Set the threshold of every group. */
void ks_log_set_level_all(int level);

/** \brief Whether a message at \p level in \p group would be written. */
bool ks_log_enabled(enum ks_log_group group, int level);

/**
 * \brief Parse a level name ("err", "warning", "notice", "info", "debug").
 * \return the syslog level, or -1 if the name is unknown.
 */
int ks_log_level_parse(const char *name);

/** \brief Parse a group name ("store", "tls", ...); -1 if unknown. */
int ks_log_group_parse(const char *name);

/** \brief Name of a group for messages. */
const char *ks_log_group_name(enum ks_log_group group);

/**
 * \brief Send further lines to syslog under \p ident instead of stderr.
 * \note \p ident is borrowed and must stay valid until ks_log_close().
 */
void ks_log_open_syslog(const char *ident);

/** \brief Return to stderr output (closes syslog if open). */
void ks_log_close(void);

/** \brief Write one line if the group's threshold allows it. */
void ks_log(enum ks_log_group group, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * \brief As ks_log(), limited per call site (\p fmt must be a literal)
 *        rather than per identical text: for events a remote party can
 *        trigger at will.
 */
void ks_log_limited(enum ks_log_group group, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * \brief Lines of one key per window (0: no limit) and the window length;
 *        the default is 10 per 60000 ms.  Resets what was counted.
 */
void ks_log_set_limit(unsigned burst, unsigned interval_ms);

#define ks_log_err(grp, ...)	ks_log(KS_LOG_##grp, LOG_ERR, __VA_ARGS__)
#define ks_log_warn(grp, ...)	ks_log(KS_LOG_##grp, LOG_WARNING, __VA_ARGS__)
#define ks_log_notice(grp, ...) ks_log(KS_LOG_##grp, LOG_NOTICE, __VA_ARGS__)
#define ks_log_info(grp, ...)	ks_log(KS_LOG_##grp, LOG_INFO, __VA_ARGS__)
#define ks_log_debug(grp, ...)	ks_log(KS_LOG_##grp, LOG_DEBUG, __VA_ARGS__)
