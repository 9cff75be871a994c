/* SPDX-License-Identifier: MIT */
/*
 * The engine's side of the seam in link.h: a link's calls to the
 * connection under it (whichever implementation it has), the engine's
 * clock, and the implementation over node_conn (the daemon's links).
 */
#include "common/errors.h"
#include "node/net/conn.h"
#include "node/repl/repl_int.h"

/* --- over node_conn ------------------------------------------------------- */

static int conn_send(void *io, const void *p, size_t n)
{
	return node_conn_send(io, p, n);
}

static bool conn_congested(void *io)
{
	return node_conn_congested(io);
}

static void conn_pause(void *io, bool pause)
{
	node_conn_pause(io, pause);
}

static void conn_close(void *io, int err, const char *reason)
{
	node_conn_close(io, err, reason);
}

static void conn_bytes(void *io, uint64_t *in, uint64_t *out)
{
	*in = node_conn_bytes_in(io);
	*out = node_conn_bytes_out(io);
}

const node_repl_io_t node_repl_conn_io = {
	.send = conn_send,
	.congested = conn_congested,
	.pause = conn_pause,
	.close = conn_close,
	.bytes = conn_bytes,
};

/* --- the engine's calls ---------------------------------------------------- */

uint64_t node_repl__now(const node_repl_t *r)
{
	if (r->clock.now_ms != NULL)
		return r->clock.now_ms(r->clock.arg);
	return uv_now(r->loop);
}

int node_repl__io_send(node_repl_link_t *l, const void *p, size_t n)
{
	if (l->conn == NULL)
		return KS_ESTATE;
	return l->io->send(l->conn, p, n);
}

bool node_repl__io_congested(node_repl_link_t *l)
{
	return l->conn == NULL || l->io->congested(l->conn);
}

void node_repl__io_pause(node_repl_link_t *l, bool pause)
{
	if (l->conn != NULL)
		l->io->pause(l->conn, pause);
}

void node_repl__io_close(node_repl_link_t *l, int err, const char *reason)
{
	if (l->conn != NULL)
		l->io->close(l->conn, err, reason);
}

void node_repl__io_bytes(node_repl_link_t *l, uint64_t *in, uint64_t *out)
{
	*in = *out = 0;
	if (l->conn != NULL)
		l->io->bytes(l->conn, in, out);
}
