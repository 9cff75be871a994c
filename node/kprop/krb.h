/* SPDX-License-Identifier: MIT */
/*
 * libkrb5 behind the kprop dialogue machines (proto/kprop/kprop.h): the
 * one file of node/kprop/ that calls libkrb5, so krb5 error codes are
 * translated (and their messages logged) here only.
 *
 * Auth-context settings are those of stock kprop/kpropd 1.20
 * (kprop.md §1.3): flags exactly DO_SEQUENCE, local address from the
 * socket, no remote address, mutual authentication, no subkey, the ticket
 * session key for KRB-SAFE/KRB-PRIV with a chained cipher state.
 *
 * Ownership: a kprop_krb_t is created by one of the *_new functions and
 * freed with kprop_krb_free(); it owns its krb5 context, keytab,
 * principals, credentials and auth context.  One connection per object;
 * not thread-safe (one per thread).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/kprop/kprop.h"

typedef struct kprop_krb kprop_krb_t;

/** The ops table for the machines; ctx is the kprop_krb_t. */
extern const kprop_ops_t kprop_krb_ops;

typedef struct kprop_krb_client_opts {
	const char *realm;     /* NULL = the default realm */
	const char *keytab;    /* NULL = the default keytab (KRB5_KTNAME) */
	const char *principal; /* NULL = host/<this host> */
	const char *target;    /* replica host name: service host/<target> */
} kprop_krb_client_opts_t;

/**
 * \brief kprop side: get a ticket for host/<target>@REALM straight from the
 *        AS with the keytab's key for the client principal (as kprop does:
 *        no TGT, no ccache).
 * \param err  a one-line reason on failure.
 * \return 0, KS_EKRB5 (with the library's message in \p err), KS_ENOMEM.
 */
int kprop_krb_client_new(const kprop_krb_client_opts_t *o, kprop_krb_t **out,
			 char *err, size_t errlen);

typedef struct kprop_krb_server_opts {
	const char *realm;     /* NULL = the default realm */
	const char *keytab;    /* NULL = the default keytab */
	const char *principal; /* NULL = host/<this host> */
	const char *acl_file;  /* kpropd.acl format; required */
} kprop_krb_server_opts_t;

/** \brief kpropd side: the acceptor for one connection. */
int kprop_krb_server_new(const kprop_krb_server_opts_t *o, kprop_krb_t **out,
			 char *err, size_t errlen);

/**
 * \brief Bind to the connected socket \p fd: its local address becomes the
 *        auth context's local address (the s-address of our messages).
 */
int kprop_krb_set_socket(kprop_krb_t *k, int fd);

/** \brief The authenticated client ("" before rd_req succeeded). */
const char *kprop_krb_client_name(const kprop_krb_t *k);

/** \brief The principal this side authenticates as / accepts for. */
const char *kprop_krb_own_name(const kprop_krb_t *k);

/** \brief The service principal the client targets ("" on the server). */
const char *kprop_krb_target_name(const kprop_krb_t *k);

void kprop_krb_free(kprop_krb_t *k);
