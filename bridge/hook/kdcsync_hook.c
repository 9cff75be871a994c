/* SPDX-License-Identifier: MIT */
/*
 * kadm5_hook plugin "kdcsync" (kprop.md §4.7): loaded by kadmind and
 * kadmin.local from the realm's kdc.conf
 *
 *   [plugins]
 *       kadm5_hook = {
 *           module = kdcsync:/usr/lib/kdcsync/kdcsync_hook.so
 *       }
 *   [kdcsync]
 *       hook_socket = /var/lib/kdcsync/hook.sock
 *
 * After each committed create, modify, rename (old and new name), delete
 * and password change it sends the principal's unparsed name, as one
 * message, to the local node's Unix SOCK_SEQPACKET socket (default
 * STATE_DIR/hook.sock of a node with the default state_dir; the environment
 * variable KDCSYNC_HOOK_SOCKET overrides the profile).  The node reads that
 * principal from the KDB and logs the change at once.
 *
 * It never blocks and never fails the admin operation: the socket is
 * non-blocking (a Unix-domain connect completes or fails at once), the send
 * is MSG_DONTWAIT, every error is ignored (a node that is down, or a full
 * socket buffer, only means the next periodic scan picks the change up),
 * and only the post-commit stage does anything.  A connection (rather than
 * datagrams) is used because connected Unix sockets queue up to the send
 * buffer, while unconnected datagrams are capped at net.unix.max_dgram_qlen
 * (10 by default), too few for a burst of kadmin commands.  A connection
 * broken by a node restart is re-made once on the next notification.  No secret (the plaintext
 * password the hook is given) is ever looked at or sent.
 *
 * Ownership: modinfo (socket fd and address) belongs to libkadm5srv between
 * init and fini.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <kadm5/admin.h>
#include <krb5/kadm5_hook_plugin.h>
#include <profile.h>

#define HOOK_DEFAULT_SOCKET "/var/lib/kdcsync/hook.sock"
#define HOOK_NAME_MAX	    4096

struct kadm5_hook_modinfo_st {
	int fd;	    /* connected socket, -1 if none */
	int usable; /* the path fits */
	struct sockaddr_un addr;
	socklen_t addrlen;
};

/* The one exported symbol (the module is built with hidden visibility). */
__attribute__((visibility("default"))) krb5_error_code
kadm5_hook_kdcsync_initvt(krb5_context ctx, int maj_ver, int min_ver,
			  krb5_plugin_vtable vtable);

static kadm5_ret_t hook_init(krb5_context ctx, kadm5_hook_modinfo **out)
{
	kadm5_hook_modinfo *mi = calloc(1, sizeof(*mi));
	char *prof_path = NULL;
	const char *path = getenv("KDCSYNC_HOOK_SOCKET");
	profile_t prof = NULL;

	if (mi == NULL)
		return ENOMEM;
	if ((path == NULL || *path == '\0') &&
	    krb5_get_profile(ctx, &prof) == 0) {
		if (profile_get_string(prof, "kdcsync", "hook_socket", NULL,
				       NULL, &prof_path) == 0)
			path = prof_path;
		profile_release(prof);
	}
	if (path == NULL || *path == '\0')
		path = HOOK_DEFAULT_SOCKET;
	mi->addr.sun_family = AF_UNIX;
	/* A path that does not fit disables the hook; never fail kadmin. */
	if (strlen(path) < sizeof(mi->addr.sun_path)) {
		memcpy(mi->addr.sun_path, path, strlen(path) + 1);
		mi->addrlen =
			(socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				    strlen(path) + 1);
		mi->usable = 1;
	}
	mi->fd = -1; /* connected lazily, at the first notification */
	profile_release_string(prof_path);
	*out = mi;
	return 0;
}

static void hook_fini(krb5_context ctx, kadm5_hook_modinfo *mi)
{
	(void)ctx;
	if (mi == NULL)
		return;
	if (mi->fd >= 0)
		close(mi->fd);
	free(mi);
}

/* Connect (non-blocking; a Unix connect never waits); -1 on failure. */
static void hook_connect(kadm5_hook_modinfo *mi)
{
	int sndbuf = 1 << 20;

	mi->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (mi->fd < 0)
		return;
	(void)setsockopt(mi->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
			 sizeof(sndbuf));
	if (connect(mi->fd, (const struct sockaddr *)&mi->addr, mi->addrlen) !=
	    0) {
		close(mi->fd);
		mi->fd = -1;
	}
}

static void hook_send(kadm5_hook_modinfo *mi, const char *name, size_t len)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (mi->fd < 0)
			hook_connect(mi);
		if (mi->fd < 0)
			return; /* node not running: the scan will see it */
		if (send(mi->fd, name, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 ||
		    errno == EAGAIN || errno == EWOULDBLOCK)
			return; /* sent, or buffer full: dropped */
		close(mi->fd);	/* broken (node restarted): reconnect once */
		mi->fd = -1;
	}
}

/* Tell the node about one principal; every failure is ignored. */
static void notify(krb5_context ctx, kadm5_hook_modinfo *mi, int stage,
		   krb5_const_principal princ)
{
	char *name = NULL;
	size_t len;

	if (mi == NULL || !mi->usable || stage != KADM5_HOOK_STAGE_POSTCOMMIT ||
	    princ == NULL)
		return;
	if (krb5_unparse_name(ctx, princ, &name) != 0)
		return;
	len = strlen(name);
	if (len > 0 && len <= HOOK_NAME_MAX)
		hook_send(mi, name, len);
	krb5_free_unparsed_name(ctx, name);
}

static kadm5_ret_t hook_chpass(krb5_context ctx, kadm5_hook_modinfo *mi,
			       int stage, krb5_principal princ,
			       krb5_boolean keepold, int n_ks_tuple,
			       krb5_key_salt_tuple *ks_tuple,
			       const char *newpass)
{
	(void)keepold;
	(void)n_ks_tuple;
	(void)ks_tuple;
	(void)newpass;
	notify(ctx, mi, stage, princ);
	return 0;
}

static kadm5_ret_t hook_create(krb5_context ctx, kadm5_hook_modinfo *mi,
			       int stage, kadm5_principal_ent_t ent, long mask,
			       int n_ks_tuple, krb5_key_salt_tuple *ks_tuple,
			       const char *password)
{
	(void)mask;
	(void)n_ks_tuple;
	(void)ks_tuple;
	(void)password;
	notify(ctx, mi, stage, ent ? ent->principal : NULL);
	return 0;
}

static kadm5_ret_t hook_modify(krb5_context ctx, kadm5_hook_modinfo *mi,
			       int stage, kadm5_principal_ent_t ent, long mask)
{
	(void)mask;
	notify(ctx, mi, stage, ent ? ent->principal : NULL);
	return 0;
}

static kadm5_ret_t hook_remove(krb5_context ctx, kadm5_hook_modinfo *mi,
			       int stage, krb5_principal princ)
{
	notify(ctx, mi, stage, princ);
	return 0;
}

static kadm5_ret_t hook_rename(krb5_context ctx, kadm5_hook_modinfo *mi,
			       int stage, krb5_principal from,
			       krb5_principal to)
{
	notify(ctx, mi, stage, from);
	notify(ctx, mi, stage, to);
	return 0;
}

krb5_error_code kadm5_hook_kdcsync_initvt(krb5_context ctx, int maj_ver,
					  int min_ver,
					  krb5_plugin_vtable vtable)
{
	kadm5_hook_vftable_1 *vt = (kadm5_hook_vftable_1 *)vtable;

	(void)ctx;
	if (maj_ver != 1 || min_ver < 1)
		return KRB5_PLUGIN_VER_NOTSUPP;
	vt->name = "kdcsync";
	vt->init = hook_init;
	vt->fini = hook_fini;
	vt->chpass = hook_chpass;
	vt->create = hook_create;
	vt->modify = hook_modify;
	vt->remove = hook_remove;
	if (min_ver >= 2)
		vt->rename = hook_rename;
	return 0;
}
