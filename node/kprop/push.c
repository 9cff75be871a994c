/* SPDX-License-Identifier: MIT */
/* kprop sender streaming the store as a dump (see push.h). */
#include "node/kprop/push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/kprop/io.h"
#include "node/kprop/krb.h"
#include "proto/kprop/kprop.h"

typedef struct pusher {
	kprop_client_t c;
	int fd;
	uint64_t timeout_ms;
	const volatile int *cancel;
	uint8_t block[KPROP_BLOCK_SIZE];
	size_t fill;
	uint64_t counted;
	int io_err;
} pusher_t;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Send whatever the machine queued. */
static int flush_out(pusher_t *p)
{
	ks_buf_t *out = kprop_client_out(&p->c);
	if (out->len == 0)
		return KS_EOK;
	int ret = kprop_io_write_all(p->fd, out->data, out->len, p->timeout_ms,
				     p->cancel);
	ks_buf_reset(out);
	if (ret != KS_EOK)
		p->io_err = ret;
	return ret;
}

/* Read and feed until the machine leaves the WAIT state. */
static int pump_until_not_wait(pusher_t *p)
{
	uint8_t buf[4096];
	while (kprop_client_state(&p->c) == KPROP_ST_WAIT) {
		int ret = flush_out(p);
		if (ret != KS_EOK)
			return ret;
		long n = kprop_io_read_some(p->fd, buf, sizeof(buf),
					    p->timeout_ms, p->cancel);
		if (n < 0) {
			p->io_err = (int)n;
			return (int)n;
		}
		(void)kprop_client_input(&p->c, buf, (size_t)n);
	}
	return flush_out(p);
}

static int send_block(pusher_t *p)
{
	int ret = kprop_client_block(&p->c, (ks_view_t){ p->block, p->fill });
	p->fill = 0;
	if (ret != KS_EOK)
		return ret;
	return flush_out(p);
}

/* Append bytes to the current block, sending full blocks. */
static int feed(pusher_t *p, const uint8_t *d, size_t n)
{
	while (n > 0) {
		size_t k = sizeof(p->block) - p->fill;
		if (k > n)
			k = n;
		memcpy(p->block + p->fill, d, k);
		p->fill += k;
		d += k;
		n -= k;
		if (p->fill == sizeof(p->block)) {
			int ret = send_block(p);
			if (ret != KS_EOK)
				return ret;
		}
	}
	return KS_EOK;
}

static int count_cb(ks_view_t key, ks_view_t value, void *ctx)
{
	(void)key;
	pusher_t *p = ctx;
	p->counted += value.len;
	return 0;
}

static int send_cb(ks_view_t key, ks_view_t value, void *ctx)
{
	(void)key;
	return feed(ctx, value.ptr, value.len);
}

int node_kprop_push(const node_kprop_push_opts_t *o, store_t *s,
		    node_kprop_result_t *res)
{
	static pusher_t zero;
	pusher_t *p = NULL;
	kprop_krb_t *k = NULL;
	store_txn_t *t = NULL;
	uint64_t t0 = now_us();
	int ret;
	const size_t hlen = strlen(KPROP_DUMP_HEADER);

	memset(res, 0, sizeof(*res));
	p = malloc(sizeof(*p));
	if (p == NULL) {
		ret = KS_ENOMEM;
		snprintf(res->reason, sizeof(res->reason), "out of memory");
		goto done;
	}
	*p = zero;
	p->fd = -1;
	p->timeout_ms = o->timeout_ms ? o->timeout_ms : 300000;
	p->cancel = o->cancel;
	ret = store_read_begin(s, &t);
	if (ret != KS_EOK) {
		snprintf(res->reason, sizeof(res->reason),
			 "cannot read the store (%s)", ks_strerror(ret));
		goto done;
	}
	store_meta_t meta;
	ret = store_meta_get(t, &meta);
	if (ret != KS_EOK) {
		snprintf(res->reason, sizeof(res->reason),
			 "cannot read the store (%s)", ks_strerror(ret));
		goto done;
	}
	memcpy(res->digest, meta.digest, sizeof(res->digest));
	if (meta.record_count == 0) {
		/* A header-only dump would leave the replica without even
		 * K/M: never wipe a replica from a store not yet filled. */
		ret = KS_ESTATE;
		snprintf(
			res->reason, sizeof(res->reason),
			"the store is empty (never scanned or received): refusing to propagate an empty database");
		goto done;
	}
	p->counted = hlen;
	ret = store_records_foreach(t, (ks_view_t){ 0 }, count_cb, p);
	if (ret != KS_EOK) {
		snprintf(res->reason, sizeof(res->reason),
			 "cannot read the store (%s)", ks_strerror(ret));
		goto done;
	}
	kprop_krb_client_opts_t ko = { .realm = o->realm,
				       .keytab = o->keytab,
				       .principal = o->principal,
				       .target = o->host };
	ret = kprop_krb_client_new(&ko, &k, res->reason, sizeof(res->reason));
	if (ret != KS_EOK)
		goto done;
	uint16_t port = o->port ? o->port : KPROP_PORT;
	p->fd = kprop_io_connect(o->host, port, p->timeout_ms, res->reason,
				 sizeof(res->reason));
	if (p->fd < 0) {
		ret = p->fd;
		goto done;
	}
	ret = kprop_krb_set_socket(k, p->fd);
	if (ret != KS_EOK) {
		snprintf(res->reason, sizeof(res->reason),
			 "cannot read the socket's local address");
		goto done;
	}
	ret = kprop_client_init(&p->c, &kprop_krb_ops, k, p->counted);
	if (ret == KS_EOK)
		ret = pump_until_not_wait(p);
	if (ret == KS_EOK && kprop_client_state(&p->c) == KPROP_ST_SEND) {
		ret = feed(p, (const uint8_t *)KPROP_DUMP_HEADER, hlen);
		if (ret == KS_EOK)
			ret = store_records_foreach(t, (ks_view_t){ 0 },
						    send_cb, p);
		if (ret == KS_EOK && p->fill > 0)
			ret = send_block(p);
		/* Everything is sent: release the snapshot before waiting
		 * (minutes, while the replica loads) for the ack, so that
		 * this process's store writes may grow the map meanwhile. */
		store_read_end(t);
		t = NULL;
		if (ret == KS_EOK)
			ret = pump_until_not_wait(p);
	}
	if (kprop_client_state(&p->c) == KPROP_ST_FAILED) {
		ret = kprop_client_error(&p->c);
		snprintf(res->reason, sizeof(res->reason), "%s",
			 kprop_client_reason(&p->c));
	} else if (p->io_err != KS_EOK) {
		ret = p->io_err;
		const char *stage =
			kprop_client_state(&p->c) == KPROP_ST_SEND
				? "while sending database"
				: "while reading response from server";
		snprintf(res->reason, sizeof(res->reason), "%s: %s", stage,
			 ret == KS_ECLOSED ? "connection closed by server"
					   : ks_strerror(ret));
	} else if (ret != KS_EOK) {
		snprintf(res->reason, sizeof(res->reason),
			 "while streaming the database: %s", ks_strerror(ret));
	} else if (kprop_client_state(&p->c) != KPROP_ST_DONE) {
		ret = KS_EKPROP;
		snprintf(res->reason, sizeof(res->reason),
			 "propagation ended early");
	}
	res->bytes =
		kprop_client_state(&p->c) == KPROP_ST_DONE ? p->counted : 0;
done:
	if (t != NULL)
		store_read_end(t);
	if (p != NULL) {
		if (p->fd >= 0)
			close(p->fd);
		kprop_client_deinit(&p->c);
		free(p);
	}
	kprop_krb_free(k);
	res->error = ret;
	res->duration_us = now_us() - t0;
	if (ret != KS_EOK)
		ks_log_err(KPROP, "kprop to %s: %s", o->host, res->reason);
	else
		ks_log_info(KPROP,
			    "kprop to %s: SUCCEEDED (%llu bytes in %llu ms)",
			    o->host, (unsigned long long)res->bytes,
			    (unsigned long long)(res->duration_us / 1000));
	return ret;
}
