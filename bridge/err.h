/* SPDX-License-Identifier: MIT */
/*
 * Module-private: the one place where krb5_error_code becomes a KS_E* code.
 * Every libkrb5/libkdb5 call in bridge/ passes its failure through
 * bridge__err(), which logs krb5_get_error_message() with what was being
 * done and returns our code.
 */
#pragma once

#include <krb5.h>

/**
 * \brief Translate \p code (nonzero) from a krb5/kdb call and log it.
 * \param ctx   may be NULL (no extended message then).
 * \param what  short description of the failed step, for the log.
 * \return KS_ENOENT (no such entry), KS_EKDBLOCK (DB locked), KS_ENOMEM,
 *         KS_EEXIST, KS_EMALF (bad name), KS_EKDB (other DB errors),
 *         KS_EKRB5 (other library errors); 0 for code 0.
 */
int bridge__err(krb5_context ctx, krb5_error_code code, const char *what);

/** \brief Same translation without logging (for expected outcomes such as a
 *         missing entry during a DEL). */
int bridge__err_quiet(krb5_error_code code);
