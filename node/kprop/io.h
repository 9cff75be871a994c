/* SPDX-License-Identifier: MIT */
/*
 * Blocking socket helpers for the kprop sender and listener: every wait is
 * bounded by a timeout (poll), writes never raise SIGPIPE.  The caller owns
 * every descriptor.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/**
 * \brief Connect to \p host:\p port (any address family getaddrinfo
 *        yields, tried in order) within \p timeout_ms each.
 * \param err a one-line reason on failure.
 * \return a connected fd (>= 0) or KS_ENOENT (no such host),
 *         KS_ECONNREFUSED, KS_ETIMEDOUT, KS_ENET.
 */
int kprop_io_connect(const char *host, uint16_t port, uint64_t timeout_ms,
		     char *err, size_t errlen);

/*
 * \p cancel (may be NULL): waits are cut into 200 ms slices and end with
 * KS_ECANCELED once *cancel is nonzero.
 */

/** \brief Write all of \p p.  \return 0, KS_ETIMEDOUT, KS_ECANCELED,
 *         KS_EPIPE, KS_ECONNRESET, -errno. */
int kprop_io_write_all(int fd, const void *p, size_t n, uint64_t timeout_ms,
		       const volatile int *cancel);

/**
 * \brief Read what is available (at least 1 byte), waiting up to
 *        \p timeout_ms.  \return bytes read (> 0), KS_ECLOSED at end of
 *        stream, KS_ETIMEDOUT, -errno.
 */
long kprop_io_read_some(int fd, void *p, size_t cap, uint64_t timeout_ms,
			const volatile int *cancel);

/**
 * \brief Listen on \p host (NULL or "*": every address, dual stack) and
 *        \p port (0 = any; the bound port is stored back).
 * \return a listening fd or KS_EADDRINUSE, KS_ENOENT, -errno.
 */
int kprop_io_listen(const char *host, uint16_t *port, char *err, size_t errlen);

/**
 * \brief Accept one connection, waiting up to \p timeout_ms.
 * \return the connected fd, KS_ETIMEDOUT, -errno.
 */
int kprop_io_accept(int listen_fd, uint64_t timeout_ms);
