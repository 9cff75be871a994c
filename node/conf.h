/* SPDX-License-Identifier: MIT */
/*
 * Node configuration: a file in krb5 profile syntax (as kdc.conf), read with
 * the profile library that libkrb5 exports, checked against one declarative
 * table of keys (type, default, range) in conf_keys.c, and loaded into an
 * immutable node_conf_t.  See deploy/kdcsync.conf.sample for every key.
 *
 *   [node]   name, role, state_dir, listen, primary, kdc_profile,
 *            scan_interval, replicate_lockout, synchronous, sync_timeout,
 *            signing_key, trusted_keys, log_level, reconnect_min,
 *            reconnect_max
 *   [tls]    ca, cert, key, handshake_timeout, idle_timeout,
 *            keepalive_interval, max_connections, max_handshakes,
 *            max_per_address, write_queue_limit
 *   [peers]  NAME = { address = HOST:PORT  mode = native|kprop }
 *   [kprop]  keytab, principal, realm, listen, acl_file, timeout,
 *            push_interval
 *   [metrics] listen
 *
 * Any unknown section or key, a bad value, a duplicated key, an unreadable
 * file or an inconsistent combination is an error whose message names the
 * file and the key ("FILE: [tls] idle_timeout: ...").  This file pair is the
 * only place that calls the profile library and translates its errors.
 *
 * Ownership: node_conf_load() returns a heap object the caller frees with
 * node_conf_free(); nothing in it changes after loading (a reload loads a
 * new object and swaps).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum node_role {
	NODE_ROLE_PRIMARY,
	NODE_ROLE_REPLICA
};
enum node_peer_mode {
	NODE_PEER_NATIVE,
	NODE_PEER_KPROP
};

typedef struct node_hostport {
	char *host; /* NULL when unset */
	uint16_t port;
} node_hostport_t;

typedef struct node_strlist {
	char **v;
	size_t n;
} node_strlist_t;

typedef struct node_peer_conf {
	char *name;		 /* the name its certificate carries */
	node_hostport_t address; /* where to reach it; may be unset */
	int mode;		 /* enum node_peer_mode */
} node_peer_conf_t;

typedef struct node_conf {
	char *path; /* the file it was read from */
	/* [node] */
	char *name;
	int role; /* enum node_role */
	char *state_dir;
	node_hostport_t listen;
	char *primary; /* replica: name of the [peers] entry to follow */
	char *kdc_profile;
	uint64_t scan_interval_ms;
	uint64_t drift_check_interval_ms; /* replica; 0 = off */
	uint64_t verify_memory;	  /* bytes of KDB listings per read (verify) */
	uint64_t log_retain;	  /* change-log entries a primary keeps */
	uint64_t synchronous;	  /* replicas a write waits for (0: none) */
	uint64_t sync_timeout_ms; /* then it proceeds, asynchronous */
	bool replicate_lockout;
	char *signing_key;
	node_strlist_t trusted_keys;
	int log_level; /* syslog level */
	uint64_t reconnect_min_ms;
	uint64_t reconnect_max_ms;
	/* [tls] */
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	uint64_t handshake_timeout_ms;
	uint64_t idle_timeout_ms;
	uint64_t keepalive_ms;
	uint64_t max_connections;
	uint64_t max_handshakes;  /* unauthenticated, unknown addresses */
	uint64_t max_per_address; /* unauthenticated from one address */
	uint64_t write_queue_limit;
	/* [kprop] (node/kprop/) */
	char *kprop_keytab;	      /* NULL = the krb5 default keytab */
	char *kprop_principal;	      /* NULL = host/<this host> */
	char *kprop_realm;	      /* NULL = the default realm */
	node_hostport_t kprop_listen; /* unset = no kprop listener */
	char *kprop_acl_file;
	uint64_t kprop_timeout_ms;
	uint64_t kprop_push_interval_ms;
	/* [metrics] (node/metrics.h) */
	node_hostport_t metrics_listen; /* unset = no HTTP endpoint */
	/* [peers] */
	node_peer_conf_t *peers;
	size_t n_peers;
} node_conf_t;

/**
 * \brief Read and validate a configuration file.
 * \param err    receives a one-line message naming the file and the key on
 *               failure (may be NULL).
 * \return 0, KS_ENOENT (no such file), KS_ECONFKEY (unknown section or
 *         key), KS_ECONFVAL (bad value), KS_ECONFIG (syntax error,
 *         inconsistent settings), KS_ENOMEM.
 */
int node_conf_load(const char *path, node_conf_t **out, char *err,
		   size_t errlen);

/**
 * \brief Read only [node] state_dir, without validating the rest: lets
 *        `kdcsync status` reach a running daemon while the file on disk has
 *        an edit in progress.
 * \param out heap string the caller frees.
 * \return 0, KS_ENOENT, KS_ECONFIG (unreadable, or no absolute state_dir),
 *         KS_ENOMEM.
 */
int node_conf_state_dir(const char *path, char **out, char *err, size_t errlen);

/** \brief Free a configuration; NULL is ignored. */
void node_conf_free(node_conf_t *c);

/** \brief The peer entry called \p name, or NULL (borrowed from \p c). */
const node_peer_conf_t *node_conf_peer(const node_conf_t *c, const char *name);

/**
 * \brief Check that \p next may replace \p cur at run time (SIGHUP): the
 *        node's name, role, state_dir, listen and [metrics] listen
 *        addresses need a restart.
 * \return 0, or KS_ECONFIG with a message naming the key in \p err.
 */
int node_conf_reloadable(const node_conf_t *cur, const node_conf_t *next,
			 char *err, size_t errlen);

/*
 * The key table, for documentation: kdcsync.conf(5) is checked against it
 * (tests/unit/node/test_conf_doc.c) so the manual cannot drift from what
 * the loader accepts.
 */
typedef struct node_conf_key_info {
	const char *section; /* "node", "tls", "kprop", "metrics", "peers" */
	const char *name;
	const char *value; /* how the manual writes the value: "DURATION" */
	const char *def;   /* default as text, NULL = none */
	bool required;
	bool repeat;	/* may be given more than once */
	char range[80]; /* "1s..1d", "1..10000"; "" = no range */
} node_conf_key_info_t;

/** \brief Number of keys (every section, [peers] subsections last). */
size_t node_conf_key_count(void);

/** \brief Describe key \p i (< node_conf_key_count()). */
void node_conf_key_describe(size_t i, node_conf_key_info_t *out);

/** \brief "primary" / "replica". */
const char *node_role_name(int role);

/** \brief "native" / "kprop". */
const char *node_peer_mode_name(int mode);

/**
 * \brief Parse "HOST:PORT" or "[V6]:PORT" (port 1..65535).
 * \return 0, KS_ECONFVAL, KS_ENOMEM.  \p out->host is heap-owned.
 */
int node_hostport_parse(const char *s, node_hostport_t *out);
