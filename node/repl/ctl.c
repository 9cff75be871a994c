/* SPDX-License-Identifier: MIT */
/*
 * The engine's control requests (node_repl_ctl): "snapshot" (scan now),
 * "dump PATH", "verify" and "repair" (the KDB against the store,
 * drift.c), and "verify PEER" / "verify-result" (compare.c).  Scan, dump and verify run on the
 * database worker; their answers are deferred (node_ctl_defer) until the
 * job is done, so the loop keeps answering status meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/repl/repl_int.h"

typedef struct dump_ctx {
	FILE *f;
	bool policies; /* second pass: stop at the first principal */
} dump_ctx_t;

static int dump_cb(ks_view_t key, ks_view_t value, void *arg)
{
	dump_ctx_t *d = arg;

	if (d->policies && key.len && key.ptr[0] != STORE_KEY_POLICY)
		return 1;
	/* values are whole dump lines, newline included (bridge/convert.h) */
	if (fwrite(value.ptr, 1, value.len, d->f) != value.len)
		return KS_EIO;
	return 0;
}

/* A request answered by a worker job. */
typedef struct ctl_job {
	node_repl_job_t job;
	node_repl_t *r;
	node_ctl_wait_t *wait;
	int role;
	char path[600]; /* dump */
	ks_buf_t out;	/* the answer, built on the worker */
} ctl_job_t;

static void ctl_done(node_repl_job_t *job, int ret)
{
	ctl_job_t *j = (ctl_job_t *)job;

	node_ctl_answer(j->wait, ret, ks_buf_view(&j->out));
	ks_buf_free(&j->out);
	free(j);
}

static int ctl_job(node_repl_t *r, node_repl_job_run_cb run, const char *path)
{
	ctl_job_t *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return KS_ENOMEM;
	*j = (ctl_job_t){ .job = { .run = run, .done = ctl_done },
			  .r = r,
			  .role = r->role,
			  .out = KS_BUF_INIT };
	if (path != NULL)
		snprintf(j->path, sizeof(j->path), "%s", path);
	if (!node_repl__job(r, &j->job)) {
		free(j);
		return KS_ECANCELED;
	}
	j->wait = node_ctl_defer(); /* answered by ctl_done */
	return KS_EOK;
}

int node_repl_dump_store(store_t *s, bool primary, const char *path,
			 ks_buf_t *out)
{
	store_txn_t *t = NULL;
	store_meta_t m;
	dump_ctx_t d = { 0 };
	char tmp[700];
	int fd, ret;

	if (path[0] != '/')
		return KS_EINVAL;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return ks_errno(errno);
	d.f = fdopen(fd, "w");
	if (d.f == NULL) {
		close(fd);
		return KS_ENOMEM;
	}
	ret = store_read_begin(s, &t);
	if (ret == KS_EOK) {
		ret = store_meta_get(t, &m);
		if (ret == KS_EOK &&
		    fputs("kdb5_util load_dump version 7\n", d.f) == EOF)
			ret = KS_EIO;
		/* principals first, then policies, as kdb5_util dump does */
		if (ret == KS_EOK)
			ret = store_records_foreach(
				t, (ks_view_t){ (const uint8_t *)"P", 1 },
				dump_cb, &d);
		if (ret == KS_EOK) {
			/* then the policies ('O' keys sort before 'P') */
			d.policies = true;
			ret = store_records_foreach(t, (ks_view_t){ 0 },
						    dump_cb, &d);
			if (ret == 1)
				ret = KS_EOK;
		}
		store_read_end(t);
	}
	if (fclose(d.f) != 0 && ret == KS_EOK)
		ret = KS_EIO;
	if (ret == KS_EOK && rename(tmp, path) != 0)
		ret = ks_errno(errno);
	if (ret != KS_EOK) {
		unlink(tmp);
		return ret;
	}
	return ks_buf_appendf(
		out, "wrote %" PRIu64 " records at seq %" PRIu64 " to %s\n",
		m.record_count, primary ? m.last_seq : m.applied_seq, path);
}

static int dump_run(node_repl_job_t *job)
{
	ctl_job_t *j = (ctl_job_t *)job;

	return node_repl_dump_store(j->r->store, j->role == REPL_ROLE_PRIMARY,
				    j->path, &j->out);
}

int node_repl_ctl(node_repl_t *r, const char *req, ks_buf_t *out)
{
	if (strcmp(req, "snapshot") == 0) {
		if (r->bridge ==
		    NULL) /* replication disabled: status says why */
			return KS_ENOTAVAIL;
		if (r->role != REPL_ROLE_PRIMARY)
			return KS_ESTATE;
		if (r->stopping)
			return KS_ECANCELED;
		node_repl__scan(r, "snapshot", false, node_ctl_defer());
		return KS_EOK;
	}
	if (strncmp(req, "dump ", 5) == 0) {
		if (req[5] != '/')
			return KS_EINVAL;
		return ctl_job(r, dump_run, req + 5);
	}
	if (strcmp(req, "verify") == 0)
		return node_repl__verify(r);
	if (strcmp(req, "repair") == 0)
		return node_repl__repair(r, out);
	if (strncmp(req, "verify ", 7) == 0 && req[7] != '\0')
		return node_repl__compare_start(r, req + 7, out);
	if (strcmp(req, "verify-result") == 0)
		return node_repl__compare_result(r, out);
	return KS_ENOTSUP;
}
