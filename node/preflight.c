/* SPDX-License-Identifier: MIT */
/* Checks of the files a configuration names (see preflight.h). */
#include "node/preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "proto/sign.h"

static int say(const node_conf_t *c, char *err, size_t errlen, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));
static int say(const node_conf_t *c, char *err, size_t errlen, const char *fmt,
	       ...)
{
	char msg[500];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", c->path, msg);
	return KS_ECONFVAL;
}

/* A regular file this process can open for reading; \p private also wants
 * no group/other access (it holds a secret). */
static int usable(const node_conf_t *c, const char *key, const char *path,
		  bool private, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (stat(path, &st) != 0)
		return say(c, err, errlen, "%s: cannot use '%s' (%s)", key,
			   path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return say(c, err, errlen, "%s: '%s' is not a regular file",
			   key, path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return say(c, err, errlen, "%s: cannot read '%s' (%s)", key,
			   path, strerror(errno));
	close(fd);
	if (private && (st.st_mode & 077) != 0)
		return say(c, err, errlen,
			   "%s: private key '%s' is accessible to group or "
			   "others (mode %04o): chmod 600 it",
			   key, path, (unsigned)(st.st_mode & 07777));
	return KS_EOK;
}

static int signing_key(const node_conf_t *c, char *err, size_t errlen)
{
	const char *key = "[node] signing_key";
	proto_key_t *k = NULL;
	int ret = usable(c, key, c->signing_key, true, err, errlen);

	if (ret != KS_EOK)
		return ret;
	ret = proto_key_load(c->signing_key, &k);
	if (ret == KS_ENOMEM)
		return ret;
	if (ret != KS_EOK)
		return say(c, err, errlen,
			   "%s: '%s' is not an Ed25519 key in PEM form (%s)",
			   key, c->signing_key, ks_strerror(ret));
	if (!proto_key_has_private(k)) {
		proto_key_free(k);
		return say(c, err, errlen,
			   "%s: '%s' holds only a public key (give the "
			   "private key that 'kdcsync keygen' wrote)",
			   key, c->signing_key);
	}
	proto_key_free(k);
	return KS_EOK;
}

static int trusted_keys(const node_conf_t *c, char *err, size_t errlen)
{
	const char *key = "[node] trusted_keys";
	proto_trust_t *t = NULL;
	int ret = proto_trust_new(&t);

	for (size_t i = 0; ret == KS_EOK && i < c->trusted_keys.n; i++) {
		const char *f = c->trusted_keys.v[i];
		ret = usable(c, key, f, false, err, errlen);
		if (ret == KS_EOK && (ret = proto_trust_add_file(t, f)) != 0 &&
		    ret != KS_ENOMEM)
			ret = say(c, err, errlen,
				  "%s: '%s' is not an Ed25519 key in PEM form "
				  "(%s)",
				  key, f, ks_strerror(ret));
	}
	proto_trust_free(t);
	return ret;
}

int node_preflight(const node_conf_t *c, char *err, size_t errlen)
{
	int ret;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((ret = usable(c, "[node] kdc_profile", c->kdc_profile, false, err,
			  errlen)) != KS_EOK)
		return ret;
	if (c->signing_key != NULL &&
	    (ret = signing_key(c, err, errlen)) != KS_EOK)
		return ret;
	if ((ret = trusted_keys(c, err, errlen)) != KS_EOK)
		return ret;
	if ((ret = usable(c, "[tls] ca", c->tls_ca, false, err, errlen)) != 0 ||
	    (ret = usable(c, "[tls] cert", c->tls_cert, false, err, errlen)) !=
		    0 ||
	    (ret = usable(c, "[tls] key", c->tls_key, true, err, errlen)) != 0)
		return ret;
	if (c->kprop_keytab != NULL) {
		const char *kt = c->kprop_keytab;
		if (strncmp(kt, "FILE:", 5) == 0)
			kt += 5;
		/* other keytab types (MEMORY:, KDB:) name no file */
		if (kt[0] == '/' && (ret = usable(c, "[kprop] keytab", kt, true,
						  err, errlen)) != KS_EOK)
			return ret;
	}
	if (c->kprop_listen.host != NULL && c->kprop_acl_file != NULL &&
	    (ret = usable(c, "[kprop] acl_file", c->kprop_acl_file, false, err,
			  errlen)) != KS_EOK)
		return ret;
	return KS_EOK;
}
