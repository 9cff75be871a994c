/* SPDX-License-Identifier: MIT */
/*
 * kdcsyncd: the kdcsync node daemon.
 *
 *   kdcsyncd -c FILE [-f]
 *   kdcsyncd -c FILE -t      check the configuration and every file it names
 *   kdcsyncd --kdb-check PROFILE   (internal) the replica's KDB damage
 *                                  check, run by the daemon in a child
 *                                  (node/kdb_check.h); PROFILE "-" is the
 *                                  default
 *
 * -f keeps it in the foreground logging to stderr (what systemd wants);
 * without -f it detaches and logs to syslog.  Exit status 0 after an
 * orderly shutdown (SIGTERM/SIGINT), 1 with a one-line error otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/conf.h"
#include "node/daemon.h"
#include "node/kdb_check.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kdcsyncd -c FILE [-f | -t]\n"
		"  -c FILE  configuration file (krb5 profile syntax)\n"
		"  -f       stay in the foreground, log to stderr\n"
		"  -t       check the configuration and every file it names, then exit\n");
}

/* Classic detach: fork, new session, fork, stdio to /dev/null. */
static int detach(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") != 0)
		return -1;
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -1;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	bool foreground = false, check = false;
	node_conf_t *conf = NULL;
	node_daemon_t *d = NULL;
	uv_loop_t loop;
	char err[1200];
	int opt, ret, status = 1;
	char exe[4096];
	ssize_t n;

	if (argc == 3 && strcmp(argv[1], "--kdb-check") == 0)
		return node_kdb_check_main(strcmp(argv[2], "-") == 0 ? NULL
								     : argv[2]);
	/* the KDB check runs this program again (before any thread) */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		node_kdb_check_set_exe(exe);
	}
	while ((opt = getopt(argc, argv, "c:fthV")) != -1) {
		switch (opt) {
		case 't':
			check = true;
			break;
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("kdcsyncd 0.1.0\n");
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 1;
	}
	ret = node_conf_load(path, &conf, err, sizeof(err));
	if (ret != KS_EOK) {
		fprintf(stderr, "kdcsyncd: %s\n",
			err[0] ? err : ks_strerror(ret));
		return 1;
	}
	if (check) {
		ret = node_daemon_check(conf, err, sizeof(err));
		if (ret != KS_EOK)
			fprintf(stderr, "kdcsyncd: %s\n", err);
		else
			printf("%s: configuration OK\n", path);
		node_conf_free(conf);
		return ret == KS_EOK ? 0 : 1;
	}
	if (!foreground) {
		if (detach() != 0) {
			fprintf(stderr, "kdcsyncd: cannot detach (%s)\n",
				strerror(errno));
			node_conf_free(conf);
			return 1;
		}
		ks_log_open_syslog("kdcsyncd");
	}
	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "kdcsyncd: cannot initialise the event loop\n");
		node_conf_free(conf);
		return 1;
	}
	ret = node_daemon_new(&loop, conf, &d);
	if (ret == KS_EOK) {
		ret = node_daemon_start(d);
		if (ret != KS_EOK) {
			fprintf(stderr,
				"kdcsyncd: cannot start (%s); see the log above\n",
				ks_strerror(ret));
			node_daemon_stop(d);
		}
		uv_run(&loop, UV_RUN_DEFAULT);
		if (ret == KS_EOK)
			status = 0;
	}
	node_daemon_free(d);
	if (uv_loop_close(&loop) != 0)
		ks_log_warn(GENERAL, "event loop closed with handles open");
	ks_log_close();
	return status;
}
