/* SPDX-License-Identifier: MIT */
/* The KDB damage check run in a child process (node/kdb_check.h). */
#define _GNU_SOURCE /* pipe2 */
#include "node/kdb_check.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"

extern char **environ;

static char check_exe[4096];

void node_kdb_check_set_exe(const char *path)
{
	snprintf(check_exe, sizeof(check_exe), "%s", path ? path : "");
}

bool node_kdb_check_isolated(void)
{
	return check_exe[0] != '\0';
}

int node_kdb_check_main(const char *kdc_profile)
{
	bridge_opts_t o = { .kdc_profile = kdc_profile };
	bridge_check_t c;
	int ret = bridge_kdb_check(&o, &c);

	if (ret == KS_EOK)
		printf("ok %" PRIu64 " %" PRIu64 "\n", c.principals,
		       c.policies);
	else if (ret == KS_EKDBDAMAGED)
		printf("damaged %s\n", c.why);
	else
		printf("error %s\n", ks_strerror(ret));
	fflush(stdout);
	return ret == KS_EOK ? 0 : ret == KS_EKDBDAMAGED ? 1 : 2;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Read the child's verdict line until EOF or the deadline. */
static bool read_verdict(int fd, char *line, size_t len)
{
	size_t n = 0;
	uint64_t deadline = mono_ms() + NODE_KDB_CHECK_TIMEOUT_MS;

	for (;;) {
		uint64_t now = mono_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (now >= deadline)
			return false;
		int r = poll(&p, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		ssize_t got = read(fd, line + n, len - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || (n += (size_t)got) == len - 1)
			break;
	}
	line[n] = '\0';
	return true;
}

/* The verdict of a finished child. */
static int verdict(const char *line, int status, bridge_check_t *out)
{
	unsigned long long pr, po;
	const char *nl;

	if (sscanf(line, "ok %llu %llu", &pr, &po) == 2) {
		/* the line counts, even if a sanitizer made the exit code
		 * nonzero afterwards */
		out->principals = pr;
		out->policies = po;
		return KS_EOK;
	}
	if (strncmp(line, "damaged ", 8) == 0) {
		nl = strchr(line + 8, '\n');
		snprintf(out->why, sizeof(out->why), "%.*s",
			 nl ? (int)(nl - line - 8) : (int)strlen(line + 8),
			 line + 8);
		return KS_EKDBDAMAGED;
	}
	if (WIFSIGNALED(status)) {
		snprintf(out->why, sizeof(out->why),
			 "reading the KDB crashed the check (signal %d, %s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
		return KS_EKDBDAMAGED;
	}
	snprintf(out->why, sizeof(out->why),
		 "the check could not read the KDB (%s, exit status %d)",
		 line[0] ? line : "no answer",
		 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return KS_EKDBDAMAGED;
}

int node_kdb_check(const char *kdc_profile, bridge_check_t *out)
{
	char flag[] = "--kdb-check", prof[4096];
	char *argv[] = { check_exe, flag, prof, NULL };
	posix_spawn_file_actions_t fa;
	char line[512];
	int fds[2], status = 0, ret;
	pid_t pid;
	bool answered;

	*out = (bridge_check_t){ 0 };
	snprintf(prof, sizeof(prof), "%s", kdc_profile ? kdc_profile : "-");
	if (check_exe[0] == '\0') {
		bridge_opts_t o = { .kdc_profile = kdc_profile };
		return bridge_kdb_check(&o, out);
	}
	if (pipe2(fds, O_CLOEXEC) != 0)
		return ks_errno(errno);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	ret = posix_spawn(&pid, check_exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (ret != 0) {
		close(fds[0]);
		ks_log_err(KDB, "cannot run the KDB check '%s' (%s)", check_exe,
			   strerror(ret));
		return ks_errno(ret);
	}
	answered = read_verdict(fds[0], line, sizeof(line));
	close(fds[0]);
	if (!answered) {
		kill(pid, SIGKILL);
		line[0] = '\0';
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!answered) {
		snprintf(out->why, sizeof(out->why),
			 "the check did not finish within %u s",
			 NODE_KDB_CHECK_TIMEOUT_MS / 1000);
		return KS_EKDBDAMAGED;
	}
	return verdict(line, status, out);
}
