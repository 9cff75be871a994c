/* SPDX-License-Identifier: MIT */
/* kprop receiver: stock kprop -> bridge full load + store (see serve.h). */
#include "node/kprop/serve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/kdb_lock.h"
#include "node/kprop/io.h"
#include "node/kprop/krb.h"
#include "node/kprop/push.h"
#include "proto/kprop/kprop.h"

#define STAGE_BATCH 4096u

typedef struct recv {
	const node_kprop_serve_opts_t *o;
	store_t *s;
	kprop_krb_t *k;
	bridge_t *b;
	bridge_load_t *load;
	bool staging;
	bool header_ok;
	ks_buf_t partial; /* bytes of an unfinished line */
	ks_buf_t key;
	/* pending stage puts: arena of key/value bytes + their spans */
	ks_buf_t arena;
	size_t *spans; /* 4 per record: key off, key len, val off, val len */
	size_t n_pending;
	uint64_t records, bytes;
	char why[300];
} recv_t;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int flush_stage(recv_t *r)
{
	if (r->n_pending == 0)
		return KS_EOK;
	store_change_t *ch = calloc(r->n_pending, sizeof(*ch));
	if (ch == NULL)
		return KS_ENOMEM;
	for (size_t i = 0; i < r->n_pending; i++) {
		const size_t *sp = r->spans + 4 * i;
		ch[i].op = STORE_PUT;
		ch[i].key = (ks_view_t){ r->arena.data + sp[0], sp[1] };
		ch[i].value = (ks_view_t){ r->arena.data + sp[2], sp[3] };
	}
	int ret = store_stage_put(r->s, ch, r->n_pending);
	free(ch);
	r->n_pending = 0;
	ks_buf_reset(&r->arena);
	if (ret != KS_EOK)
		snprintf(r->why, sizeof(r->why),
			 "cannot stage records in the store (%s)",
			 ks_strerror(ret));
	return ret;
}

/* One complete dump line (with its '\n'). */
static int take_line(recv_t *r, ks_view_t line)
{
	int ret;
	if (!r->header_ok) {
		const char *h = KPROP_DUMP_HEADER;
		if (line.len != strlen(h) || memcmp(line.ptr, h, line.len)) {
			snprintf(
				r->why, sizeof(r->why),
				"unsupported dump header (only \"kdb5_util load_dump version 7\")");
			return KS_EVERSION;
		}
		r->header_ok = true;
		return KS_EOK;
	}
	ks_buf_reset(&r->key);
	ret = bridge_record_key(line, &r->key);
	if (ret == KS_EOK)
		ret = bridge_load_put(r->load, ks_buf_view(&r->key), line);
	if (ret != KS_EOK) {
		snprintf(r->why, sizeof(r->why),
			 "dump record %llu does not parse (%s)",
			 (unsigned long long)r->records + 1, ks_strerror(ret));
		return ret;
	}
	if (r->n_pending % STAGE_BATCH == 0) {
		size_t *sp = realloc(r->spans, (r->n_pending + STAGE_BATCH) *
						       4 * sizeof(size_t));
		if (sp == NULL)
			return KS_ENOMEM;
		r->spans = sp;
	}
	size_t *sp = r->spans + 4 * r->n_pending;
	sp[0] = r->arena.len;
	sp[1] = r->key.len;
	ret = ks_buf_append(&r->arena, r->key.data, r->key.len);
	sp[2] = r->arena.len;
	sp[3] = line.len;
	if (ret == KS_EOK)
		ret = ks_buf_append(&r->arena, line.ptr, line.len);
	if (ret != KS_EOK)
		return ret;
	r->n_pending++;
	r->records++;
	if (r->n_pending >= STAGE_BATCH || r->arena.len >= (8u << 20))
		return flush_stage(r);
	return KS_EOK;
}

/* The machine's sink: a block of the dump, in order. */
static int sink(void *ctx, ks_view_t d)
{
	recv_t *r = ctx;
	int ret;

	if (r->load == NULL) {
		ret = bridge_load_begin(r->b, &r->load);
		if (ret != KS_EOK) {
			snprintf(r->why, sizeof(r->why),
				 "cannot begin the KDB load (%s)",
				 ks_strerror(ret));
			return ret;
		}
	}
	if (!r->staging) {
		ret = store_stage_begin(r->s);
		if (ret != KS_EOK) {
			snprintf(r->why, sizeof(r->why),
				 "cannot begin staging in the store (%s)",
				 ks_strerror(ret));
			return ret;
		}
		r->staging = true;
	}
	r->bytes += d.len;
	size_t off = 0;
	while (off < d.len) {
		const uint8_t *nl = memchr(d.ptr + off, '\n', d.len - off);
		size_t end = nl ? (size_t)(nl - d.ptr) + 1 : d.len;
		if (r->partial.len > 0 || nl == NULL) {
			ret = ks_buf_append(&r->partial, d.ptr + off,
					    end - off);
			if (ret != KS_EOK)
				return ret;
			if (r->partial.len > STORE_MAX_VALUE) {
				snprintf(r->why, sizeof(r->why),
					 "a dump line exceeds %zu bytes",
					 (size_t)STORE_MAX_VALUE);
				return KS_ELIMIT;
			}
			if (nl != NULL) {
				ret = take_line(r, ks_buf_view(&r->partial));
				ks_buf_reset(&r->partial);
				if (ret != KS_EOK)
					return ret;
			}
		} else {
			ret = take_line(r,
					(ks_view_t){ d.ptr + off, end - off });
			if (ret != KS_EOK)
				return ret;
		}
		off = end;
	}
	return KS_EOK;
}

/* The machine passes one ctx to every op: recv_t, forwarding the Kerberos
 * ops to the connection's kprop_krb_t. */
static int t_rd_req(void *c, ks_view_t m, ks_buf_t *e)
{
	return kprop_krb_ops.rd_req(((recv_t *)c)->k, m, e);
}

static int t_mk_rep(void *c, ks_buf_t *o)
{
	return kprop_krb_ops.mk_rep(((recv_t *)c)->k, o);
}

static int t_authorize(void *c)
{
	return kprop_krb_ops.authorize(((recv_t *)c)->k);
}

static int t_mk_safe(void *c, ks_view_t d, ks_buf_t *o)
{
	return kprop_krb_ops.mk_safe(((recv_t *)c)->k, d, o);
}

static int t_rd_safe(void *c, ks_view_t m, ks_buf_t *o)
{
	return kprop_krb_ops.rd_safe(((recv_t *)c)->k, m, o);
}

static int t_init_ivector(void *c)
{
	return kprop_krb_ops.init_ivector(((recv_t *)c)->k);
}

static int t_rd_priv(void *c, ks_view_t m, ks_buf_t *o)
{
	return kprop_krb_ops.rd_priv(((recv_t *)c)->k, m, o);
}

static int t_mk_error(void *c, int code, const char *text, ks_buf_t *o)
{
	return kprop_krb_ops.mk_error(((recv_t *)c)->k, code, text, o);
}

static void t_rd_error(void *c, ks_view_t m, char *text, size_t len)
{
	kprop_krb_ops.rd_error(((recv_t *)c)->k, m, text, len);
}

static const kprop_ops_t recv_ops = {
	.rd_req = t_rd_req,
	.mk_rep = t_mk_rep,
	.authorize = t_authorize,
	.mk_safe = t_mk_safe,
	.rd_safe = t_rd_safe,
	.init_ivector = t_init_ivector,
	.rd_priv = t_rd_priv,
	.mk_error = t_mk_error,
	.rd_error = t_rd_error,
	.sink = sink,
};

/* Everything arrived: finish the load, then the store. */
static int finish(recv_t *r)
{
	uint8_t hist[STORE_HISTORY_LEN];
	int ret;

	if (r->partial.len > 0) {
		snprintf(
			r->why, sizeof(r->why),
			"the dump ends inside a record (%zu bytes without a newline)",
			r->partial.len);
		return KS_ETRUNC;
	}
	if (!r->header_ok || r->load == NULL) {
		snprintf(r->why, sizeof(r->why), "empty dump");
		return KS_EMALF;
	}
	ret = flush_stage(r);
	if (ret != KS_EOK)
		return ret;
	/* Build the staged set before touching the KDB, so that a store
	 * failure leaves both untouched. */
	ret = store_stage_info(r->s, NULL, NULL);
	if (ret != KS_EOK) {
		snprintf(r->why, sizeof(r->why),
			 "cannot build the staged record set (%s)",
			 ks_strerror(ret));
		return ret;
	}
	ret = bridge_load_commit(r->load);
	r->load = NULL;
	if (ret != KS_EOK) {
		snprintf(r->why, sizeof(r->why),
			 "cannot install the loaded KDB (%s)",
			 ks_strerror(ret));
		return ret;
	}
	if (getrandom(hist, sizeof(hist), 0) != (ssize_t)sizeof(hist)) {
		snprintf(r->why, sizeof(r->why), "getrandom failed");
		return KS_EIO;
	}
	ret = store_stage_install(r->s, hist, 0, NULL);
	if (ret != KS_EOK) {
		snprintf(
			r->why, sizeof(r->why),
			"the KDB was loaded but the store could not take the records (%s)",
			ks_strerror(ret));
		return ret;
	}
	r->staging = false;
	return KS_EOK;
}

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN] = "?";
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET,
				  &((struct sockaddr_in *)&ss)->sin_addr, a,
				  sizeof(a));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((struct sockaddr_in6 *)&ss)->sin6_addr, a,
				  sizeof(a));
	}
	snprintf(buf, len, "%s", a);
}

/* Accept and close connections that arrive during a transfer. */
static void refuse_pending(int listen_fd)
{
	if (listen_fd < 0)
		return;
	for (;;) {
		struct pollfd p = { .fd = listen_fd, .events = POLLIN };
		if (poll(&p, 1, 0) <= 0)
			return;
		int c = accept(listen_fd, NULL, NULL);
		if (c < 0)
			return;
		char who[64];
		peer_name(c, who, sizeof(who));
		ks_log_warn(
			KPROP,
			"kprop: refused a connection from %s: a transfer is in progress",
			who);
		close(c);
	}
}

static int send_out(kprop_server_t *m, int fd, uint64_t timeout_ms,
		    const volatile int *cancel)
{
	ks_buf_t *out = kprop_server_out(m);
	if (out->len == 0)
		return KS_EOK;
	int ret =
		kprop_io_write_all(fd, out->data, out->len, timeout_ms, cancel);
	ks_buf_reset(out);
	return ret;
}

int node_kprop_serve_one(const node_kprop_serve_opts_t *o, store_t *s, int fd,
			 int listen_fd, node_kprop_recv_result_t *res)
{
	kprop_server_t m;
	recv_t r = { .o = o, .s = s };
	uint64_t t0 = now_us();
	uint64_t timeout = o->timeout_ms ? o->timeout_ms : 300000;
	char who[64];
	int ret, io = KS_EOK;
	bool locked = false;

	memset(res, 0, sizeof(*res));
	memset(&m, 0, sizeof(m));
	peer_name(fd, who, sizeof(who));
	ks_log_info(KPROP, "kprop: connection from %s", who);
	kprop_krb_server_opts_t ko = { .realm = o->realm,
				       .keytab = o->keytab,
				       .principal = o->principal,
				       .acl_file = o->acl_file };
	ret = kprop_krb_server_new(&ko, &r.k, res->reason, sizeof(res->reason));
	if (ret != KS_EOK)
		goto done;
	ret = kprop_krb_set_socket(r.k, fd);
	if (ret == KS_EOK) {
		/* the KDB is ours until the end of the transfer (kdb_lock.h):
		 * the node's other KDB work waits, the event loop does not */
		ret = node_kdb_lock_wait(o->cancel);
		locked = ret == KS_EOK;
		if (locked)
			ret = bridge_open(&o->bridge, &r.b);
	}
	if (ret != KS_EOK) {
		snprintf(res->reason, sizeof(res->reason),
			 locked ? "cannot open the KDB (%s)"
				: "stopped while waiting for the KDB (%s)",
			 ks_strerror(ret));
		goto done;
	}
	ret = kprop_server_init(&m, &recv_ops, &r);
	uint8_t buf[65536];
	int setsock = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &setsock,
			 sizeof(setsock));
	while (ret == KS_EOK && kprop_server_state(&m) == KPROP_ST_WAIT) {
		io = send_out(&m, fd, timeout, o->cancel);
		if (io != KS_EOK)
			break;
		refuse_pending(listen_fd);
		if (now_us() - t0 > 4 * timeout * 1000) {
			io = KS_ETIMEDOUT;
			break;
		}
		long n = kprop_io_read_some(fd, buf, sizeof(buf), timeout,
					    o->cancel);
		if (n < 0) {
			io = (int)n;
			break;
		}
		(void)kprop_server_input(&m, buf, (size_t)n);
	}
	if (kprop_server_state(&m) == KPROP_ST_LOAD) {
		ret = finish(&r);
		if (ret != KS_EOK)
			(void)kprop_server_abort(&m, ret, r.why, false);
		else
			(void)kprop_server_ack(&m);
	}
	(void)send_out(&m, fd, timeout, o->cancel);
	snprintf(res->client, sizeof(res->client), "%s",
		 kprop_krb_client_name(r.k));
	if (kprop_server_state(&m) == KPROP_ST_DONE) {
		ret = KS_EOK;
	} else if (kprop_server_state(&m) == KPROP_ST_FAILED) {
		ret = kprop_server_error(&m);
		if (r.why[0] != '\0')
			snprintf(res->reason, sizeof(res->reason), "%s: %s",
				 kprop_server_reason(&m), r.why);
		else
			snprintf(res->reason, sizeof(res->reason), "%s",
				 kprop_server_reason(&m));
	} else {
		ret = io != KS_EOK ? io : KS_EKPROP;
		snprintf(res->reason, sizeof(res->reason),
			 "transfer cut off after %llu bytes (%s)",
			 (unsigned long long)r.bytes,
			 io == KS_ECLOSED ? "connection closed by client"
					  : ks_strerror(ret));
	}
done:
	bridge_load_abort(r.load);
	if (r.staging)
		(void)store_stage_abort(s);
	res->bytes = r.bytes;
	res->records = r.records;
	res->error = ret;
	res->duration_us = now_us() - t0;
	if (ret == KS_EOK)
		ks_log_notice(
			KPROP,
			"kprop: full propagation from %s (%s) loaded: %llu records, %llu bytes in %llu ms",
			res->client, who, (unsigned long long)res->records,
			(unsigned long long)res->bytes,
			(unsigned long long)(res->duration_us / 1000));
	else
		ks_log_err(
			KPROP,
			"kprop: transfer from %s (%s) refused, nothing loaded: %s",
			res->client[0] ? res->client : "unauthenticated", who,
			res->reason);
	kprop_server_deinit(&m);
	ks_buf_free(&r.partial);
	ks_buf_free(&r.key);
	ks_buf_free(&r.arena);
	free(r.spans);
	bridge_close(r.b);
	if (locked)
		node_kdb_unlock();
	kprop_krb_free(r.k);
	close(fd);
	return ret;
}

int node_kprop_serve_loop(const node_kprop_serve_opts_t *o, store_t *s,
			  int listen_fd, volatile int *stop, bool once)
{
	int last = KS_EOK;
	while (stop == NULL || !__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { .fd = listen_fd, .events = POLLIN };
		int r = poll(&p, 1, 200);
		if (r <= 0)
			continue;
		int c = accept(listen_fd, NULL, NULL);
		if (c < 0)
			continue;
		node_kprop_recv_result_t res;
		last = node_kprop_serve_one(o, s, c, listen_fd, &res);
		if (once)
			break;
	}
	return last;
}
