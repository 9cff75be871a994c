/* SPDX-License-Identifier: MIT */
/* Blocking socket helpers with timeouts for node/kprop (see io.h). */
#include "node/kprop/io.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/errors.h"

static int wait_fd(int fd, short events, uint64_t timeout_ms,
		   const volatile int *cancel)
{
	struct pollfd p = { .fd = fd, .events = events };
	uint64_t left = timeout_ms;
	for (;;) {
		if (cancel != NULL && __atomic_load_n(cancel, __ATOMIC_ACQUIRE))
			return KS_ECANCELED;
		uint64_t slice = cancel != NULL && left > 200 ? 200 : left;
		if (slice > INT32_MAX)
			slice = INT32_MAX;
		int r = poll(&p, 1, (int)slice);
		if (r > 0)
			return KS_EOK;
		if (r == 0) {
			left -= slice;
			if (left == 0)
				return KS_ETIMEDOUT;
			continue;
		}
		if (errno != EINTR)
			return ks_errno(errno);
	}
}

int kprop_io_connect(const char *host, uint16_t port, uint64_t timeout_ms,
		     char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	char service[8];
	int ret = KS_ENET, fd = -1;

	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%u", port);
	int g = getaddrinfo(host, service, &hints, &res);
	if (g != 0) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host,
			 gai_strerror(g));
		return KS_ENOENT;
	}
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		int fl = fcntl(fd, F_GETFL);
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		int r = connect(fd, a->ai_addr, a->ai_addrlen);
		int e = r == 0 ? 0 : errno;
		if (e == EINPROGRESS) {
			int w = wait_fd(fd, POLLOUT, timeout_ms, NULL);
			socklen_t sl = sizeof(e);
			if (w != KS_EOK)
				e = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e,
					    &sl) != 0)
				e = errno;
		}
		if (e == 0) {
			(void)fcntl(fd, F_SETFL, fl);
			freeaddrinfo(res);
			return fd;
		}
		snprintf(err, errlen, "cannot connect to %s port %u: %s", host,
			 port, strerror(e));
		ret = e == ECONNREFUSED ? KS_ECONNREFUSED
		      : e == ETIMEDOUT	? KS_ETIMEDOUT
					: KS_ENET;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return ret;
}

int kprop_io_write_all(int fd, const void *p, size_t n, uint64_t timeout_ms,
		       const volatile int *cancel)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLOUT, timeout_ms, cancel);
			if (r != KS_EOK)
				return r;
			continue;
		}
		return w < 0 ? ks_errno(errno) : KS_EIO;
	}
	return KS_EOK;
}

long kprop_io_read_some(int fd, void *p, size_t cap, uint64_t timeout_ms,
			const volatile int *cancel)
{
	for (;;) {
		int r = wait_fd(fd, POLLIN, timeout_ms, cancel);
		if (r != KS_EOK)
			return r;
		ssize_t n = recv(fd, p, cap, MSG_DONTWAIT);
		if (n > 0)
			return (long)n;
		if (n == 0)
			return KS_ECLOSED;
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue;
		return ks_errno(errno);
	}
}

int kprop_io_listen(const char *host, uint16_t *port, char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	char service[8];
	int fd = -1, ret = KS_ENET;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (host != NULL && strcmp(host, "*") == 0)
		host = NULL;
	if (host == NULL)
		hints.ai_family = AF_INET6; /* dual stack, as kpropd */
	snprintf(service, sizeof(service), "%u", *port);
	int g = getaddrinfo(host, service, &hints, &res);
	if (g != 0 && host == NULL) {
		hints.ai_family = AF_INET;
		g = getaddrinfo(host, service, &hints, &res);
	}
	if (g != 0) {
		snprintf(err, errlen, "cannot resolve listen address '%s': %s",
			 host ? host : "*", gai_strerror(g));
		return KS_ENOENT;
	}
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		int one = 1, zero = 0;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				 sizeof(one));
		if (a->ai_family == AF_INET6 && host == NULL)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
					 sizeof(zero));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
		    listen(fd, 5) == 0) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
				*port = ntohs(
					ss.ss_family == AF_INET6
						? ((struct sockaddr_in6 *)&ss)
							  ->sin6_port
						: ((struct sockaddr_in *)&ss)
							  ->sin_port);
			freeaddrinfo(res);
			return fd;
		}
		int e = errno;
		snprintf(err, errlen, "cannot listen on %s port %u: %s",
			 host ? host : "*", *port, strerror(e));
		ret = e == EADDRINUSE ? KS_EADDRINUSE : ks_errno(e);
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return ret;
}

int kprop_io_accept(int listen_fd, uint64_t timeout_ms)
{
	int r = wait_fd(listen_fd, POLLIN, timeout_ms, NULL);
	if (r != KS_EOK)
		return r;
	int c = accept(listen_fd, NULL, NULL);
	if (c < 0)
		return ks_errno(errno);
	(void)fcntl(c, F_SETFD, FD_CLOEXEC);
	return c;
}
