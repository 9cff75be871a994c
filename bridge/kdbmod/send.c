/* SPDX-License-Identifier: MIT */
/*
 * The KDB module's report sender: one connected Unix SOCK_SEQPACKET socket
 * per process to the local node, made lazily and never waited on.
 *
 * Why a connection: connected Unix sockets queue up to the send buffer,
 * while unconnected datagrams are capped at net.unix.max_dgram_qlen (10 by
 * default), too few for a burst.  Why SEQPACKET: each report stays one
 * message.  A Unix-domain connect completes or fails at once (a full
 * backlog gives EAGAIN on a non-blocking socket), and every send is
 * MSG_DONTWAIT, so a wedged or absent node costs a write nothing but a
 * failed system call.
 *
 * Lost reports are never silent while a node listens: each message carries
 * the number of reports this process failed to send since its previous
 * message got through, and kdbmod_send_flush() tries once more at database
 * close.  When no node listens nothing is counted: the node's start-up scan
 * covers every write made before it listened.
 *
 * fork(): a child (krb5kdc -w workers) does not share its parent's
 * connection; it notices the pid change and connects on its own.
 */
#include "bridge/kdbmod/kdbmod.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bridge/report.h"
#include "common/errors.h"

#define FLUSH_WAIT_MS 100

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sender {
	bool configured; /* a path was chosen (maybe an unusable one) */
	bool usable;	 /* the path fits sockaddr_un */
	struct sockaddr_un addr;
	socklen_t addrlen;
	int fd;	   /* connected socket, -1 if none */
	pid_t pid; /* process that made fd */
	uint64_t id;
	uint32_t dropped; /* reports not sent since the last one that was */
	uint8_t msg[KS_REPORT_MAX_LEN];
} s = { .fd = -1 };

void kdbmod_send_configure(const char *path)
{
	const char *env = getenv(KDBMOD_SOCKET_ENV);

	pthread_mutex_lock(&mu);
	if (s.configured)
		goto out;
	if (env != NULL && *env != '\0')
		path = env;
	if (path == NULL || *path == '\0')
		path = KDBMOD_DEFAULT_SOCKET;
	s.configured = true;
	s.addr.sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (n < sizeof(s.addr.sun_path)) {
		memcpy(s.addr.sun_path, path, n + 1);
		s.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
					n + 1);
		s.usable = true;
	}
out:
	pthread_mutex_unlock(&mu);
}

static void drop_fd(void)
{
	/* A child's inherited copy is closed too: the parent keeps its own. */
	if (s.fd >= 0)
		close(s.fd);
	s.fd = -1;
}

/* Connect if not connected; false when no node takes the connection. */
static bool ensure_connected(void)
{
	int sndbuf = 1 << 20;

	if (s.fd >= 0 && s.pid != getpid())
		drop_fd();
	if (s.fd >= 0)
		return true;
	s.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
		      0);
	if (s.fd < 0)
		return false;
	(void)setsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (connect(s.fd, (const struct sockaddr *)&s.addr, s.addrlen) != 0) {
		/* A node whose backlog is full is alive but busy: count it.
		 * No node (ENOENT, ECONNREFUSED): its start-up scan will. */
		if (errno == EAGAIN)
			s.dropped++;
		drop_fd();
		return false;
	}
	s.pid = getpid();
	return true;
}

/* Send s.msg[0..len); on a broken connection reconnect once. */
static void send_msg(size_t len)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!ensure_connected())
			return;
		if (send(s.fd, s.msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
			s.dropped = 0;
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS) {
			s.dropped++;
			return;
		}
		drop_fd(); /* EPIPE, ECONNRESET: the node restarted */
	}
}

static size_t encode(uint8_t kind, const char *name, size_t len)
{
	ks_report_t r = { .kind = kind,
			  .id = ++s.id,
			  .dropped = s.dropped,
			  .name = name,
			  .name_len = len };
	size_t n = 0;

	if (ks_report_encode(&r, s.msg, sizeof(s.msg), &n) == KS_EOK)
		return n;
	/* A name the format cannot carry: tell the node to scan instead. */
	r = (ks_report_t){ .kind = KS_REPORT_LOST,
			   .id = r.id,
			   .dropped = s.dropped };
	if (ks_report_encode(&r, s.msg, sizeof(s.msg), &n) == KS_EOK)
		return n;
	return 0;
}

void kdbmod_send(uint8_t kind, const char *name, size_t len)
{
	pthread_mutex_lock(&mu);
	if (s.configured && s.usable) {
		size_t n = encode(kind, name, len);
		if (n > 0)
			send_msg(n);
	}
	pthread_mutex_unlock(&mu);
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

void kdbmod_send_flush(void)
{
	struct timespec t0;

	pthread_mutex_lock(&mu);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (s.usable && s.dropped > 0 && s.fd >= 0 && s.pid == getpid()) {
		size_t n = encode(KS_REPORT_LOST, NULL, 0);
		if (n == 0)
			break;
		if (send(s.fd, s.msg, n, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
			s.dropped = 0;
			break;
		}
		long left = FLUSH_WAIT_MS - elapsed_ms(&t0);
		if ((errno != EAGAIN && errno != EWOULDBLOCK &&
		     errno != ENOBUFS) ||
		    left <= 0)
			break;
		struct pollfd p = { .fd = s.fd, .events = POLLOUT };
		(void)poll(&p, 1, (int)left);
	}
	pthread_mutex_unlock(&mu);
}

void kdbmod_send_close(void)
{
	pthread_mutex_lock(&mu);
	drop_fd();
	pthread_mutex_unlock(&mu);
}
