/* SPDX-License-Identifier: MIT */
/*
 * The KDB module's report sender: one connected Unix SOCK_SEQPACKET socket
 * per process to the local node, made lazily and never waited on (but in
 * synchronous mode, below, for the node's answer, bounded).
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
 * Synchronous mode ([node] synchronous, bridge/report.h): while the node's
 * marker file next to the socket exists, a report of any write but the
 * KDC's lockout asks for an answer, and the write waits for it on the same
 * socket for at most the marker's sync_timeout plus SYNC_MARGIN_MS (the
 * node answers at sync_timeout itself; the margin only covers a node that
 * stopped answering).  No marker, no connection, a failed send: no wait.
 *
 * Master key changes (KS_REPORT_MKEY) wait whatever the mode: the node
 * re-reads K/M when it captures the report, so a kdb5_util chain (add_mkey,
 * use_mkey, update_princ_encryption, purge_mkeys) that ran on while the
 * node was busy would leave only the final K/M in its log, and a replica
 * whose stash holds only the old key could not follow it.  Each MKEY
 * report therefore asks for an answer, which the node sends once that K/M
 * is logged (or, in synchronous mode, acknowledged), and the write waits
 * for it at most the profile's kdcsync_mkey_wait (seconds, default
 * MKEY_WAIT_DEFAULT_MS).  A K/M state that holds several master keys
 * (a rollover under way: add_mkey, use_mkey) that no node confirms (none
 * listens, it does not answer in time, the connection broke) is said on
 * stderr and to syslog, with what the operator must do; the write itself
 * never fails.  A single-key state (kdb5_util create, purge_mkeys) is the
 * final one, which the node's next scan finds: nothing to say.  Under the DB lock nothing waits (the node could not read).
 *
 * fork(): a child (krb5kdc -w workers) does not share its parent's
 * connection; it notices the pid change and connects on its own.
 */
#include "bridge/kdbmod/kdbmod.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "bridge/report.h"
#include "common/errors.h"

#define FLUSH_WAIT_MS	     100
#define SYNC_MARGIN_MS	     1000
#define SYNC_WAIT_MAX_MS     (600 * 1000 + SYNC_MARGIN_MS)
#define MKEY_WAIT_DEFAULT_MS (30 * 1000)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sender {
	bool configured; /* a path was chosen (maybe an unusable one) */
	bool usable;	 /* the path fits sockaddr_un */
	struct sockaddr_un addr;
	socklen_t addrlen;
	char marker[sizeof(((struct sockaddr_un *)0)->sun_path) +
		    sizeof(KS_REPORT_SYNC_SUFFIX)];
	int fd;	   /* connected socket, -1 if none */
	pid_t pid; /* process that made fd */
	uint64_t id;
	uint32_t dropped;  /* reports not sent since the last one that was */
	int locked;	   /* DB locks held by this process: no waiting */
	long mkey_wait_ms; /* how long a K/M change waits for the node */
	const char *why;   /* static text: why the last send failed */
	uint8_t msg[KS_REPORT_MAX_LEN];
} s = { .fd = -1 };

void kdbmod_send_configure(const char *path, long mkey_wait_ms)
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
	s.mkey_wait_ms = mkey_wait_ms < 0 ? MKEY_WAIT_DEFAULT_MS
			 : mkey_wait_ms > SYNC_WAIT_MAX_MS ? SYNC_WAIT_MAX_MS
							   : mkey_wait_ms;
	s.addr.sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (n < sizeof(s.addr.sun_path)) {
		memcpy(s.addr.sun_path, path, n + 1);
		memcpy(s.marker, path, n);
		memcpy(s.marker + n, KS_REPORT_SYNC_SUFFIX,
		       sizeof(KS_REPORT_SYNC_SUFFIX));
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
		if (errno == EAGAIN) {
			s.dropped++;
			s.why = "the node's socket backlog is full";
		} else {
			s.why = "no node listens there";
		}
		drop_fd();
		return false;
	}
	s.pid = getpid();
	return true;
}

/* Send s.msg[0..len); on a broken connection reconnect once. */
static bool send_msg(size_t len)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!ensure_connected())
			return false;
		if (send(s.fd, s.msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
			s.dropped = 0;
			return true;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS) {
			s.dropped++;
			s.why = "the node is not reading its socket";
			return false;
		}
		drop_fd(); /* EPIPE, ECONNRESET: the node restarted */
		s.why = "the connection to the node broke";
	}
	return false;
}

/* The node's sync_timeout from its marker file; 0 when there is none (the
 * node is not in synchronous mode: do not wait). */
static long sync_wait_ms(void)
{
	char buf[32];
	int fd = open(s.marker, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;
	long v = 0;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		if ((v = v * 10 + (buf[i] - '0')) > SYNC_WAIT_MAX_MS)
			return SYNC_WAIT_MAX_MS;
	return v;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Wait for the answer to request \p id, at most \p ms: true when it
 * came.  Answers to requests that stopped waiting earlier are skipped. */
static bool wait_answer(uint64_t id, long ms)
{
	uint8_t in[KS_REPORT_HDR_LEN + 1];
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left = ms - elapsed_ms(&t0);
		struct pollfd p = { .fd = s.fd, .events = POLLIN };
		if (left <= 0)
			break;
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		ssize_t n = recv(s.fd, in, sizeof(in), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) { /* the node went away: the write proceeds */
			drop_fd();
			s.why = "the node closed the connection before "
				"answering";
			return false;
		}
		ks_report_t a;
		if (ks_report_decode(in, (size_t)n, &a) == KS_EOK &&
		    a.kind == KS_REPORT_ANSWER && a.id == id)
			return true;
	}
	s.why = "the node did not answer in time";
	return false;
}

/* A K/M change the node did not confirm: the operator must know, since a
 * further master key change before the node captures this one can leave
 * replicas unable to follow (see the file comment).  Never the keys. */
static void mkey_unconfirmed(const char *name, size_t len)
{
	int n = len > 256 ? 256 : (int)len;
	const char *why = s.why ? s.why : "the report could not be sent";

	fprintf(stderr,
		"kdcsync: the master key principal %.*s changed, but the "
		"node at %s did not confirm that it captured this state "
		"(%s); before the next master key change (add_mkey, "
		"use_mkey, purge_mkeys), start the node or wait until it "
		"runs, then run 'kdcsync snapshot'; otherwise replicas "
		"whose stash lacks the new key stop with KS_EMKEY until "
		"their stash is updated by hand\n",
		n, name ? name : "", s.addr.sun_path, why);
	syslog(LOG_AUTH | LOG_WARNING,
	       "kdcsync: the master key principal %.*s changed, but the node "
	       "at %s did not confirm that it captured this state (%s); run "
	       "'kdcsync snapshot' once it runs, before the next master key "
	       "change",
	       n, name ? name : "", s.addr.sun_path, why);
}

static size_t encode(uint8_t kind, uint8_t flags, const char *name, size_t len)
{
	ks_report_t r = { .kind = kind,
			  .flags = flags,
			  .id = ++s.id,
			  .dropped = s.dropped,
			  .name = name,
			  .name_len = len };
	size_t n = 0;

	if (ks_report_encode(&r, s.msg, sizeof(s.msg), &n) == KS_EOK)
		return n;
	/* A name the format cannot carry: tell the node to scan instead. */
	r = (ks_report_t){ .kind = KS_REPORT_LOST,
			   .flags = flags,
			   .id = r.id,
			   .dropped = s.dropped };
	if (ks_report_encode(&r, s.msg, sizeof(s.msg), &n) == KS_EOK)
		return n;
	return 0;
}

static void send_report(uint8_t kind, const char *name, size_t len,
			bool rollover)
{
	pthread_mutex_lock(&mu);
	if (s.configured && s.usable) {
		/* the KDC's lockout writes never wait */
		long wait = kind == KS_REPORT_LOCKOUT || s.locked > 0
				    ? 0
				    : sync_wait_ms();
		if (wait > 0)
			wait += SYNC_MARGIN_MS;
		/* a K/M change waits in any mode (file comment) */
		bool mkey = kind == KS_REPORT_MKEY && s.locked == 0 &&
			    s.mkey_wait_ms > 0;
		if (mkey && wait < s.mkey_wait_ms)
			wait = s.mkey_wait_ms;
		size_t n = encode(kind, wait > 0 ? KS_REPORT_F_REPLY : 0, name,
				  len);
		s.why = NULL;
		bool ok = n > 0 && send_msg(n);
		if (ok && wait > 0)
			ok = wait_answer(s.id, wait);
		if (mkey && rollover && !ok)
			mkey_unconfirmed(name, len);
	}
	pthread_mutex_unlock(&mu);
}

void kdbmod_send(uint8_t kind, const char *name, size_t len)
{
	send_report(kind, name, len, false);
}

void kdbmod_send_mkey(const char *name, size_t len, bool rollover)
{
	send_report(KS_REPORT_MKEY, name, len, rollover);
}

void kdbmod_send_flush(void)
{
	struct timespec t0;

	pthread_mutex_lock(&mu);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (s.usable && s.dropped > 0 && s.fd >= 0 && s.pid == getpid()) {
		size_t n = encode(KS_REPORT_LOST, 0, NULL, 0);
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

void kdbmod_send_locked(int delta)
{
	pthread_mutex_lock(&mu);
	s.locked += delta;
	if (s.locked < 0)
		s.locked = 0;
	pthread_mutex_unlock(&mu);
}

void kdbmod_send_close(void)
{
	pthread_mutex_lock(&mu);
	drop_fd();
	pthread_mutex_unlock(&mu);
}
