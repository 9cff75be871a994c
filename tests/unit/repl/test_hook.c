/* SPDX-License-Identifier: MIT */
/*
 * The kadm5_hook module (bridge/hook/kdcsync_hook.so), loaded with dlopen as
 * libkadm5srv loads it, driven through its vtable with a real krb5 context:
 * post-commit calls send the name, pre-commit calls send nothing, a missing
 * node costs nothing and fails nothing, and a node that restarts (socket
 * closed and bound again) gets the next name over a new connection.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <kadm5/admin.h>
#include <krb5/kadm5_hook_plugin.h>

#include "helpers/test.h"

typedef krb5_error_code (*initvt_fn)(krb5_context, int, int,
				     krb5_plugin_vtable);

static char *dir;
static char path[100]; /* fits sun_path */
static krb5_context ctx;
static kadm5_hook_vftable_1 vt;
static kadm5_hook_modinfo *mi;
static void *dl;

static int listener(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	assert_true(fd >= 0);
	memcpy(a.sun_path, path, strlen(path) + 1);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* Accept the module's connection (if not yet) and read one message. */
static int recv_name(int lfd, int *cfd, char *buf, size_t len, int wait_ms)
{
	struct pollfd p;
	ssize_t n;

	if (*cfd < 0) {
		p = (struct pollfd){ .fd = lfd, .events = POLLIN };
		if (poll(&p, 1, wait_ms) != 1)
			return -1;
		*cfd = accept(lfd, NULL, NULL);
		assert_true(*cfd >= 0);
	}
	p = (struct pollfd){ .fd = *cfd, .events = POLLIN };
	if (poll(&p, 1, wait_ms) != 1)
		return -1;
	n = recv(*cfd, buf, len - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int setup(void **state)
{
	initvt_fn initvt;

	(void)state;
	dir = test_mkdtemp("hook");
	assert_true(strlen(dir) + 11 < sizeof(path));
	snprintf(path, sizeof(path), "%.80s/hook.sock", dir);
	setenv("KDCSYNC_HOOK_SOCKET", path, 1);
	assert_int_equal(krb5_init_context(&ctx), 0);
	dl = dlopen(KS_HOOK_MODULE, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(dl);
	initvt = (initvt_fn)dlsym(dl, "kadm5_hook_kdcsync_initvt");
	assert_non_null(initvt);
	memset(&vt, 0, sizeof(vt));
	assert_int_equal(initvt(ctx, 1, 2, (krb5_plugin_vtable)&vt), 0);
	assert_string_equal(vt.name, "kdcsync");
	assert_non_null(vt.rename);
	assert_int_equal(vt.init(ctx, &mi), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vt.fini(ctx, mi);
	dlclose(dl);
	krb5_free_context(ctx);
	test_rmtree_free(dir);
	return 0;
}

static krb5_principal princ(const char *name)
{
	krb5_principal p = NULL;
	assert_int_equal(krb5_parse_name(ctx, name, &p), 0);
	return p;
}

static void test_version_check(void **state)
{
	kadm5_hook_vftable_1 v;
	initvt_fn initvt = (initvt_fn)dlsym(dl, "kadm5_hook_kdcsync_initvt");

	(void)state;
	memset(&v, 0, sizeof(v));
	assert_int_not_equal(initvt(ctx, 2, 0, (krb5_plugin_vtable)&v), 0);
	/* minor 1 (no rename in the vtable) is fine */
	assert_int_equal(initvt(ctx, 1, 1, (krb5_plugin_vtable)&v), 0);
	assert_null(v.rename);
}

static void test_no_node_never_fails(void **state)
{
	krb5_principal p = princ("nobody@EXAMPLE.TEST");

	(void)state;
	unlink(path);
	for (int i = 0; i < 100; i++)
		assert_int_equal(
			vt.remove(ctx, mi, KADM5_HOOK_STAGE_POSTCOMMIT, p), 0);
	krb5_free_principal(ctx, p);
}

static void test_notifies_and_reconnects(void **state)
{
	krb5_principal a = princ("alice@EXAMPLE.TEST");
	krb5_principal b = princ("bob/admin@EXAMPLE.TEST");
	kadm5_principal_ent_rec ent;
	int lfd = listener(), cfd = -1;
	char buf[512];

	(void)state;
	memset(&ent, 0, sizeof(ent));
	ent.principal = a;
	/* pre-commit: nothing is sent */
	assert_int_equal(vt.create(ctx, mi, KADM5_HOOK_STAGE_PRECOMMIT, &ent, 0,
				   0, NULL, "secret"),
			 0);
	assert_int_equal(recv_name(lfd, &cfd, buf, sizeof(buf), 100), -1);
	/* post-commit: create, modify, chpass, rename (both), remove */
	assert_int_equal(vt.create(ctx, mi, KADM5_HOOK_STAGE_POSTCOMMIT, &ent,
				   0, 0, NULL, "secret"),
			 0);
	assert_int_equal(recv_name(lfd, &cfd, buf, sizeof(buf), 2000), 0);
	assert_string_equal(buf, "alice@EXAMPLE.TEST");
	assert_int_equal(
		vt.modify(ctx, mi, KADM5_HOOK_STAGE_POSTCOMMIT, &ent, 0), 0);
	assert_int_equal(recv_name(lfd, &cfd, buf, sizeof(buf), 2000), 0);
	assert_string_equal(buf, "alice@EXAMPLE.TEST");
	assert_int_equal(vt.chpass(ctx, mi, KADM5_HOOK_STAGE_POSTCOMMIT, a, 0,
				   0, NULL, "new-secret"),
			 0);
	assert_int_equal(recv_name(lfd, &cfd, buf, sizeof(buf), 2000), 0);
	assert_string_equal(buf, "alice@EXAMPLE.TEST");
	assert_null(strstr(buf, "secret")); /* never the password */
	assert_int_equal(vt.rename(ctx, mi, KADM5_HOOK_STAGE_POSTCOMMIT, a, b),
			 0);
	assert_int_equal(recv_name(lfd, &cfd, buf, sizeof(buf), 2000), 0);
	assert_string_equal(buf, "alice@EXAMPLE.TEST");
	assert_int_equal(recv_name(lfd, &cfd, buf, sizeof(buf), 2000), 0);
	assert_string_equal(buf, "bob/admin@EXAMPLE.TEST");

	/* the node restarts: old connection and socket gone, new ones */
	close(cfd);
	close(lfd);
	cfd = -1;
	lfd = listener();
	assert_int_equal(vt.remove(ctx, mi, KADM5_HOOK_STAGE_POSTCOMMIT, b), 0);
	assert_int_equal(recv_name(lfd, &cfd, buf, sizeof(buf), 2000), 0);
	assert_string_equal(buf, "bob/admin@EXAMPLE.TEST");

	/* a burst larger than the datagram queue limit (10) arrives whole */
	for (int i = 0; i < 200; i++)
		assert_int_equal(
			vt.remove(ctx, mi, KADM5_HOOK_STAGE_POSTCOMMIT, a), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(recv_name(lfd, &cfd, buf, sizeof(buf), 2000),
				 0);
	close(cfd);
	close(lfd);
	krb5_free_principal(ctx, a);
	krb5_free_principal(ctx, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_check),
		cmocka_unit_test(test_no_node_never_fails),
		cmocka_unit_test(test_notifies_and_reconnects),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
