/* SPDX-License-Identifier: MIT */
/* The daemon's kprop pushers and listener threads (see svc.h). */
#include "node/kprop/svc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "common/thread.h"
#include "node/kprop/io.h"
#include "node/kprop/push.h"
#include "node/kprop/serve.h"

typedef struct pusher {
	struct node_kprop_svc *svc;
	char *name, *host;
	uint16_t port;
	pthread_t thread;
	bool started;
	/* under svc->mu */
	bool running;	   /* a push in progress */
	time_t last_start; /* wall clock of the last push's start */
	uint64_t last_us;  /* its duration */
	uint64_t last_bytes;
	int last_error;
	char last_reason[512];
	uint64_t pushes, failures;
	uint8_t delivered[32]; /* digest the peer acknowledged */
	bool have_delivered;
} pusher_t;

struct node_kprop_svc {
	store_t *s;
	volatile int stop; /* set by stop; read with __atomic loads */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* copied configuration */
	char *realm, *keytab, *principal, *acl_file, *kdc_profile;
	char *listen_host;
	uint16_t listen_port;
	bool replicate_lockout;
	uint64_t timeout_ms, interval_ms, backoff_min_ms, backoff_max_ms;
	pusher_t *p;
	size_t n;
	/* listener */
	int listen_fd;
	pthread_t lthread;
	bool lstarted;
	uint64_t transfers, refusals;
	node_kprop_recv_result_t last_recv; /* under mu */
	time_t last_recv_at;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sleep up to \p ms, waking early on stop. */
static void nap(node_kprop_svc_t *svc, uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&svc->mu);
	if (!__atomic_load_n(&svc->stop, __ATOMIC_ACQUIRE))
		(void)pthread_cond_timedwait(&svc->cv, &svc->mu, &ts);
	pthread_mutex_unlock(&svc->mu);
}

static int read_digest(store_t *s, uint8_t d[32])
{
	store_txn_t *t = NULL;
	store_meta_t m;
	int ret = store_read_begin(s, &t);
	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, &m);
	store_read_end(t);
	if (ret == KS_EOK)
		memcpy(d, m.digest, 32);
	return ret;
}

/* One key=value line per kprop transfer (common/logfmt.h). */
static void log_transfer(const char *direction, const char *peer,
			 const char *remote, uint64_t bytes, uint64_t records,
			 uint64_t us, int ret, const char *reason)
{
	char pv[300], rv[300], why[600], rec[40] = "";

	if (strcmp(direction, "receive") == 0) /* a push does not count them */
		snprintf(rec, sizeof(rec), " records=%llu",
			 (unsigned long long)records);
	ks_log_notice(KPROP,
		      "transfer peer=%s remote=%s direction=%s kind=kprop%s "
		      "bytes=%llu ms=%llu result=%s%s%s",
		      ks_logfmt(peer ? peer : "-", pv, sizeof(pv)),
		      ks_logfmt(remote, rv, sizeof(rv)), direction, rec,
		      (unsigned long long)bytes, (unsigned long long)us / 1000,
		      ret == KS_EOK ? "ok" : ks_errname(ret),
		      ret == KS_EOK ? "" : " reason=",
		      ret == KS_EOK ? "" : ks_logfmt(reason, why, sizeof(why)));
}

static void *pusher_main(void *arg)
{
	pusher_t *p = arg;
	node_kprop_svc_t *svc = p->svc;
	uint64_t last_attempt = 0, backoff = 0;
	bool attempted = false;

	ks_thread_background(); /* whole dumps: the loop comes first */

	while (!__atomic_load_n(&svc->stop, __ATOMIC_ACQUIRE)) {
		uint8_t now_digest[32];
		uint64_t now = mono_ms();
		bool due = false;
		if (read_digest(svc->s, now_digest) == KS_EOK) {
			pthread_mutex_lock(&svc->mu);
			due = !p->have_delivered ||
			      memcmp(now_digest, p->delivered, 32) != 0;
			pthread_mutex_unlock(&svc->mu);
		}
		if (attempted && now - last_attempt >= svc->interval_ms)
			due = true; /* the periodic safety push */
		if (due && backoff > 0 && now - last_attempt < backoff)
			due = false;
		if (!due) {
			nap(svc, 500);
			continue;
		}
		node_kprop_push_opts_t o = { .host = p->host,
					     .port = p->port,
					     .realm = svc->realm,
					     .keytab = svc->keytab,
					     .principal = svc->principal,
					     .timeout_ms = svc->timeout_ms,
					     .cancel = &svc->stop };
		node_kprop_result_t *res = calloc(1, sizeof(*res));
		if (res == NULL) {
			nap(svc, 1000);
			continue;
		}
		pthread_mutex_lock(&svc->mu);
		p->running = true;
		p->last_start = time(NULL);
		pthread_mutex_unlock(&svc->mu);
		int ret = node_kprop_push(&o, svc->s, res);
		last_attempt = mono_ms();
		attempted = true;
		pthread_mutex_lock(&svc->mu);
		p->running = false;
		p->pushes++;
		p->last_us = res->duration_us;
		p->last_bytes = res->bytes;
		p->last_error = ret;
		snprintf(p->last_reason, sizeof(p->last_reason), "%s",
			 ret == KS_EOK ? "SUCCEEDED" : res->reason);
		if (ret == KS_EOK) {
			memcpy(p->delivered, res->digest, 32);
			p->have_delivered = true;
			backoff = 0;
		} else {
			p->failures++;
			backoff = backoff == 0 ? svc->backoff_min_ms
					       : backoff * 2;
			if (backoff > svc->backoff_max_ms)
				backoff = svc->backoff_max_ms;
		}
		pthread_mutex_unlock(&svc->mu);
		if (ret == KS_EOK)
			ks_log_notice(
				KPROP,
				"kprop push to peer %s (%s): %llu bytes in %llu ms",
				p->name, p->host,
				(unsigned long long)res->bytes,
				(unsigned long long)res->duration_us / 1000);
		else
			ks_log_warn(
				KPROP,
				"kprop push to peer %s (%s) failed: %s; retry in %llu ms",
				p->name, p->host, res->reason,
				(unsigned long long)backoff);
		log_transfer("send", p->name, p->host, res->bytes, 0,
			     res->duration_us, ret, res->reason);
		free(res);
	}
	return NULL;
}

static void *listener_main(void *arg)
{
	node_kprop_svc_t *svc = arg;
	node_kprop_serve_opts_t o = {
		.realm = svc->realm,
		.keytab = svc->keytab,
		.principal = svc->principal,
		.acl_file = svc->acl_file,
		.timeout_ms = svc->timeout_ms,
		.bridge = { .realm = svc->realm,
			    .kdc_profile = svc->kdc_profile,
			    .replicate_lockout = svc->replicate_lockout },
		.cancel = &svc->stop,
	};

	ks_thread_background(); /* whole loads: the loop comes first */
	while (!__atomic_load_n(&svc->stop, __ATOMIC_ACQUIRE)) {
		int c = kprop_io_accept(svc->listen_fd, 200);
		if (c < 0)
			continue;
		node_kprop_recv_result_t *res = calloc(1, sizeof(*res));
		if (res == NULL) {
			close(c);
			continue;
		}
		int ret = node_kprop_serve_one(&o, svc->s, c, svc->listen_fd,
					       res);
		pthread_mutex_lock(&svc->mu);
		svc->last_recv = *res;
		svc->last_recv_at = time(NULL);
		if (ret == KS_EOK)
			svc->transfers++;
		else
			svc->refusals++;
		pthread_mutex_unlock(&svc->mu);
		log_transfer("receive", NULL, res->client, res->bytes,
			     res->records, res->duration_us, ret, res->reason);
		free(res);
	}
	return NULL;
}

static int start_with(const node_conf_t *c, store_t *s, const pusher_t *prev,
		      size_t n_prev, node_kprop_svc_t **out)
{
	node_kprop_svc_t *svc = NULL;
	size_t n = 0;
	int ret = KS_ENOMEM;
	char err[600];

	*out = NULL;
	for (size_t i = 0; i < c->n_peers; i++)
		n += c->peers[i].mode == NODE_PEER_KPROP;
	if (n == 0 && c->kprop_listen.host == NULL)
		return KS_EOK;
	svc = calloc(1, sizeof(*svc));
	if (svc == NULL)
		return KS_ENOMEM;
	pthread_mutex_init(&svc->mu, NULL);
	pthread_cond_init(&svc->cv, NULL);
	svc->s = s;
	svc->listen_fd = -1;
	svc->realm = dup_or_null(c->kprop_realm);
	svc->keytab = dup_or_null(c->kprop_keytab);
	svc->principal = dup_or_null(c->kprop_principal);
	svc->acl_file = dup_or_null(c->kprop_acl_file);
	svc->kdc_profile = dup_or_null(c->kdc_profile);
	svc->listen_host = dup_or_null(c->kprop_listen.host);
	svc->listen_port = c->kprop_listen.port;
	svc->replicate_lockout = c->replicate_lockout;
	svc->timeout_ms = c->kprop_timeout_ms;
	svc->interval_ms = c->kprop_push_interval_ms;
	svc->backoff_min_ms = c->reconnect_min_ms;
	svc->backoff_max_ms = c->reconnect_max_ms;
	svc->p = calloc(n ? n : 1, sizeof(*svc->p));
	if (svc->p == NULL)
		goto fail;
	for (size_t i = 0; i < c->n_peers; i++) {
		const node_peer_conf_t *pc = &c->peers[i];
		if (pc->mode != NODE_PEER_KPROP)
			continue;
		pusher_t *p = &svc->p[svc->n++];
		p->svc = svc;
		p->name = strdup(pc->name);
		p->host = strdup(pc->address.host);
		p->port = pc->address.port;
		if (p->name == NULL || p->host == NULL)
			goto fail;
	}
	if (svc->listen_host != NULL) {
		uint16_t port = svc->listen_port;
		svc->listen_fd = kprop_io_listen(svc->listen_host, &port, err,
						 sizeof(err));
		if (svc->listen_fd < 0) {
			ret = svc->listen_fd;
			ks_log_err(KPROP, "[kprop] listen: %s", err);
			goto fail;
		}
		svc->listen_port = port;
		if (pthread_create(&svc->lthread, NULL, listener_main, svc) !=
		    0) {
			ret = KS_EAGAIN;
			goto fail;
		}
		svc->lstarted = true;
		ks_log_notice(KPROP, "kprop listener on %s:%u",
			      svc->listen_host, port);
	}
	/* A reload keeps what each unchanged peer already has. */
	for (size_t i = 0; i < svc->n; i++) {
		pusher_t *p = &svc->p[i];
		for (size_t j = 0; j < n_prev; j++) {
			const pusher_t *q = &prev[j];
			if (strcmp(q->name, p->name) != 0 ||
			    strcmp(q->host, p->host) != 0 || q->port != p->port)
				continue;
			p->last_start = q->last_start;
			p->last_us = q->last_us;
			p->last_bytes = q->last_bytes;
			p->last_error = q->last_error;
			memcpy(p->last_reason, q->last_reason,
			       sizeof(p->last_reason));
			p->pushes = q->pushes;
			p->failures = q->failures;
			memcpy(p->delivered, q->delivered,
			       sizeof(p->delivered));
			p->have_delivered = q->have_delivered;
		}
	}
	for (size_t i = 0; i < svc->n; i++) {
		if (pthread_create(&svc->p[i].thread, NULL, pusher_main,
				   &svc->p[i]) != 0) {
			ret = KS_EAGAIN;
			goto fail;
		}
		svc->p[i].started = true;
	}
	*out = svc;
	return KS_EOK;
fail:
	node_kprop_svc_stop(svc);
	return ret;
}

int node_kprop_svc_start(const node_conf_t *c, store_t *s,
			 node_kprop_svc_t **out)
{
	return start_with(c, s, NULL, 0, out);
}

int node_kprop_svc_reload(node_kprop_svc_t **svc, const node_conf_t *c,
			  store_t *s)
{
	pusher_t *saved = NULL;
	size_t n = 0;
	if (*svc != NULL && (*svc)->n > 0) {
		saved = calloc((*svc)->n, sizeof(*saved));
		if (saved != NULL) {
			n = (*svc)->n;
			pthread_mutex_lock(&(*svc)->mu);
			for (size_t i = 0; i < n; i++) {
				saved[i] = (*svc)->p[i];
				saved[i].name = strdup((*svc)->p[i].name);
				saved[i].host = strdup((*svc)->p[i].host);
				if (saved[i].name == NULL ||
				    saved[i].host == NULL) {
					free(saved[i].name);
					free(saved[i].host);
					saved[i].name = saved[i].host = NULL;
				}
			}
			pthread_mutex_unlock(&(*svc)->mu);
		}
	}
	node_kprop_svc_stop(*svc);
	*svc = NULL;
	/* entries whose strings could not be copied are skipped */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (saved[i].name != NULL)
			saved[k++] = saved[i];
	int ret = start_with(c, s, saved, k, svc);
	for (size_t i = 0; i < k; i++) {
		free(saved[i].name);
		free(saved[i].host);
	}
	free(saved);
	return ret;
}

void node_kprop_svc_stop(node_kprop_svc_t *svc)
{
	if (svc == NULL)
		return;
	pthread_mutex_lock(&svc->mu);
	__atomic_store_n(&svc->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&svc->cv);
	pthread_mutex_unlock(&svc->mu);
	for (size_t i = 0; i < svc->n; i++) {
		if (svc->p[i].started)
			pthread_join(svc->p[i].thread, NULL);
		free(svc->p[i].name);
		free(svc->p[i].host);
	}
	if (svc->lstarted)
		pthread_join(svc->lthread, NULL);
	if (svc->listen_fd >= 0)
		close(svc->listen_fd);
	free(svc->p);
	free(svc->realm);
	free(svc->keytab);
	free(svc->principal);
	free(svc->acl_file);
	free(svc->kdc_profile);
	free(svc->listen_host);
	pthread_cond_destroy(&svc->cv);
	pthread_mutex_destroy(&svc->mu);
	free(svc);
}

int node_kprop_svc_status(node_kprop_svc_t *svc, node_status_kprop_t *out)
{
	*out = (node_status_kprop_t){ 0 };
	if (svc == NULL)
		return KS_EOK;
	pthread_mutex_lock(&svc->mu);
	out->present = true;
	if (svc->n > 0 &&
	    (out->peers = calloc(svc->n, sizeof(*out->peers))) == NULL) {
		pthread_mutex_unlock(&svc->mu);
		return KS_ENOMEM;
	}
	out->n_peers = svc->n;
	for (size_t i = 0; i < svc->n; i++) {
		const pusher_t *p = &svc->p[i];
		node_status_kprop_peer_t *o = &out->peers[i];
		snprintf(o->name, sizeof(o->name), "%s", p->name);
		snprintf(o->host, sizeof(o->host), "%s", p->host);
		o->port = p->port;
		o->running = p->running;
		o->last_start = p->last_start;
		o->last_ms = p->last_us / 1000;
		o->last_bytes = p->last_bytes;
		o->pushes = p->pushes;
		o->failures = p->failures;
		snprintf(o->last_result, sizeof(o->last_result), "%s",
			 p->pushes ? p->last_reason : "none");
	}
	if (svc->listen_fd >= 0) {
		out->listening = true;
		snprintf(out->listen_host, sizeof(out->listen_host), "%s",
			 svc->listen_host);
		out->listen_port = svc->listen_port;
		out->transfers = svc->transfers;
		out->refused = svc->refusals;
		out->last_at = svc->last_recv_at;
		snprintf(out->last_result, sizeof(out->last_result), "%s",
			 svc->last_recv_at == 0 ? "none"
			 : svc->last_recv.error == KS_EOK
				 ? "loaded"
				 : svc->last_recv.reason);
	}
	pthread_mutex_unlock(&svc->mu);
	return KS_EOK;
}
