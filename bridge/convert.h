/* SPDX-License-Identifier: MIT */
/*
 * Record <-> KDB object conversion.
 *
 * A record value is exactly the line `kdb5_util dump` (header
 * "kdb5_util load_dump version 7") writes for one object, INCLUDING its line
 * terminator: ";\n" for a principal, "\n" for a policy.  So a full dump is the
 * header line followed by the concatenation of the principal values and then
 * the policy values.  The grammar (dump.c k5beta7_common, dump_r1_11_policy of
 * MIT krb5 1.20.1):
 *
 *   princ TAB len TAB namelen TAB n_tl TAB n_key TAB e_len TAB name TAB
 *     attributes TAB max_life TAB max_rlife TAB expiration TAB pw_expiration
 *     TAB last_success TAB last_failed TAB fail_auth_count
 *     { TAB tl_type TAB tl_len TAB hex-or-"-1" }*n_tl TAB
 *     { ver TAB kvno TAB { type TAB len TAB hex-or-"-1" TAB }*ver }*n_key
 *     hex-or-"-1"(e_data) ";" LF
 *   policy TAB name TAB min_life TAB max_life TAB min_length TAB min_classes
 *     TAB history_num TAB "0" TAB max_fail TAB failcnt_interval TAB
 *     lockout_duration TAB attributes TAB max_life TAB max_rlife TAB
 *     (keysalts | "-") TAB n_tl { TAB tl_type TAB tl_len TAB hex-or-"-1" }* LF
 *
 * The parsers are strict: they accept exactly the canonical text the encoders
 * produce (decimal without '+' or leading zeros, lowercase hex, every count
 * matching, nothing after the terminator), so for every accepted line
 * encode(parse(line)) == line.  A rejected line yields KS_EMALF with the
 * offending field named in the log, and no output.
 *
 * The encoders and parsers only allocate what they return; they are
 * thread-safe given distinct krb5 contexts.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <krb5.h>
#include <kdb.h>

#include "common/buf.h"

/* Bounds beyond the format's own (the MIT loader reads policy names with
 * %1023s and keysalt strings with %512s). */
#define BRIDGE_NAME_MAX                                                        \
	65534u /* unparsed principal name, bytes: a
					  store key is 'P' + name, at most
					  STORE_MAX_KEY bytes (MIT's own dump
					  fails on names above some 32 KB) */
#define BRIDGE_POLNAME_MAX  1023
#define BRIDGE_KEYSALTS_MAX KRB5_KDB_MAX_ALLOWED_KS_LEN
#define BRIDGE_LINE_MAX	    (8u << 20) /* one record value */

/**
 * \brief Append the dump line of principal \p e to \p out.
 * \param name the unparsed name of e->princ (krb5_unparse_name), borrowed.
 * \param lockout false writes last_success, last_failed and fail_auth_count
 *        as 0 (as an iprop dump does).
 * \return 0, KS_ENOMEM, KS_EMALF (inconsistent entry: tl count, key version),
 *         KS_ELIMIT (name too long).  On error \p out keeps its old length.
 */
int bridge_convert_princ_encode(const krb5_db_entry *e, const char *name,
				bool lockout, ks_buf_t *out);

/**
 * \brief Append the dump line of policy \p p to \p out.
 * \return 0, KS_ENOMEM, KS_EMALF (name empty or containing TAB/LF).
 */
int bridge_convert_policy_encode(const osa_policy_ent_rec *p, ks_buf_t *out);

/**
 * \brief Parse one principal line (with its ";\n") into a new entry.
 * \param ctx used for krb5_parse_name/krb5_unparse_name only.
 * \param out must point to NULL; set on success to an entry the caller frees
 *        with bridge_convert_princ_free().  The entry is malloc-built, so it
 *        can be handed to krb5_db_put_principal.
 * \return 0, KS_EMALF (field named in the log), KS_ENOMEM.
 */
int bridge_convert_princ_parse(krb5_context ctx, const char *line, size_t len,
			       krb5_db_entry **out);

/** \brief Free an entry made by bridge_convert_princ_parse (NULL is fine). */
void bridge_convert_princ_free(krb5_context ctx, krb5_db_entry *e);

/**
 * \brief Parse one policy line (with its "\n") into a new policy record.
 * \param out must point to NULL; set on success; free with
 *        bridge_convert_policy_free().
 * \return 0, KS_EMALF (field named in the log), KS_ENOMEM.
 */
int bridge_convert_policy_parse(const char *line, size_t len,
				osa_policy_ent_rec **out);

/** \brief Free a record made by bridge_convert_policy_parse (NULL is fine). */
void bridge_convert_policy_free(osa_policy_ent_rec *p);

/**
 * \brief Locate the name inside a principal or policy line without a full
 *        parse (for building the store key).
 * \param[out] name,name_len borrowed from \p line.
 * \param[out] is_policy true for a "policy" line.
 * \return 0 or KS_EMALF.
 */
int bridge_convert_line_name(const char *line, size_t len, const char **name,
			     size_t *name_len, bool *is_policy);
