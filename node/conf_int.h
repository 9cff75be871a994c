/* SPDX-License-Identifier: MIT */
/*
 * Inside the configuration loader (not for other modules): the key table's
 * types and the value parser shared by conf.c (reading the file, the
 * sections, cross-key rules), conf_value.c (parsing and checking one
 * value) and conf_keys.c (the table itself, its defaults and its
 * description for the documentation).  Everything here is used on the
 * thread that loads the configuration, during the load; the table is
 * constant.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <profile.h>

#include "node/conf.h"

enum ktype {
	K_NAME,	    /* DNS-style node name: letters, digits, '.', '-' */
	K_STRING,   /* any non-empty text */
	K_PATH,	    /* absolute path, need not exist */
	K_FILE,	    /* absolute path of a readable file */
	K_FILES,    /* several K_FILE values (the key may repeat) */
	K_ENUM,	    /* one of `choices`, stored as its index */
	K_BOOL,	    /* yes/no/true/false/on/off/1/0 */
	K_DURATION, /* 500ms, 30s, 5m, 2h, 1d; bare number = seconds; in ms */
	K_SIZE,	    /* bytes, or with K/M/G (powers of 1024) */
	K_UINT,	    /* decimal integer */
	K_HOSTPORT, /* host:port or [v6]:port */
	K_LOGLEVEL, /* err, warning, notice, info, debug */
};

typedef struct key {
	const char *section;
	const char *name;
	enum ktype type;
	const char *def; /* default as text, NULL = none (unset or required) */
	uint64_t min, max; /* numeric range (durations in ms, sizes in bytes) */
	bool required;
	size_t off; /* field in node_conf_t */
	const char *const *choices;
} conf_key_t;

/* The declarative table of [node], [tls], [kprop] and [metrics] keys
 * (conf_keys.c), node_conf__n_keys entries. */
extern const conf_key_t node_conf__keys[];
extern const size_t node_conf__n_keys;
#define NODE_CONF__KEYS_MAX 64 /* bound of the table (checked there) */

/* Keys of a [peers] NAME = { ... } subsection, NULL-terminated. */
extern const char *const node_conf__peer_keys[];
/* [peers] mode values, indexed by NODE_PEER_*, NULL-terminated. */
extern const char *const node_conf__modes[];

/* One load: the file, where errors go, what has been seen. */
typedef struct conf_loader {
	const char *path;
	char *err;
	size_t errlen;
	profile_t prof;
	node_conf_t *conf;
	bool seen[NODE_CONF__KEYS_MAX];
} conf_loader_t;

/** \brief Write "PATH: message" into the loader's error buffer.
 *  \return \p code. */
int node_conf__say(conf_loader_t *l, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** \brief Parse value \p v of key \p k into the configuration.
 *  \return 0, KS_ECONFVAL (with the message), KS_ENOMEM. */
int node_conf__set_value(conf_loader_t *l, const conf_key_t *k, const char *v);

/** \brief A DNS-style node name: letters, digits, '.', '-', '_'. */
bool node_conf__valid_name(const char *s);
