/* SPDX-License-Identifier: MIT */
/*
 * kdcsync: the operator's tool.
 *
 *   kdcsync -c FILE status [--json] | metrics
 *   kdcsync -c FILE snapshot | dump [-o FILE] | kprop HOST[:PORT]
 *                   | kpropd [--once]
 *                   | verify [PEER [--timeout SECONDS] | --repair] | repair
 *                   | promote | follow PEER
 *   kdcsync keygen -o PREFIX
 *
 * status talks to the running kdcsyncd over its control socket
 * (STATE_DIR/kdcsyncd.sock).  verify compares the KDB with the store,
 * listing every differing key both ways; verify PEER compares the stores
 * and the KDBs of this node and a connected peer, then this node's KDB
 * with its store (exit 1 and the differing keys when anything differs, 2
 * when no comparison was possible); repair (a replica; also verify
 * --repair) refetches the records where its store differs from its
 * primary's, then rewrites the KDB records that drifted from the store.  Exit status 0 on success; otherwise one line
 * on stderr naming what to fix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/time.h"
#include "node/conf.h"
#include "node/ctl.h"
#include "node/kprop/cmd.h"
#include "node/repl/repl.h"
#include "proto/msg.h"
#include "proto/sign.h"
#include "store/store.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kdcsync -c FILE status [--json] | metrics\n"
		"       kdcsync -c FILE snapshot | dump [-o FILE] | kprop HOST[:PORT]\n"
		"                       | kpropd [--once] [--port-file F]\n"
		"                       | verify [PEER [--timeout SECONDS] | --repair] | repair\n"
		"                       | promote | follow PEER\n"
		"       kdcsync keygen -o PREFIX\n");
}

static int cmd_status(const char *path, int argc, char **argv)
{
	node_conf_t *conf = NULL;
	ks_buf_t reply = KS_BUF_INIT;
	char err[600], err2[600], sock[600];
	bool json = false;
	int ret;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(stderr,
				"kdcsync: status: unknown option '%s'\n",
				argv[i]);
			return 1;
		}
	}
	ret = node_conf_load(path, &conf, err, sizeof(err));
	if (ret == KS_EOK) {
		snprintf(sock, sizeof(sock), "%s/%s", conf->state_dir,
			 NODE_CTL_SOCKET);
		node_conf_free(conf);
	} else {
		/* An edit in progress must not hide the running daemon. */
		char *state_dir = NULL;
		if (node_conf_state_dir(path, &state_dir, err2, sizeof(err2)) !=
		    KS_EOK) {
			fprintf(stderr, "kdcsync: %s\n",
				err[0] ? err : ks_strerror(ret));
			return 1;
		}
		fprintf(stderr,
			"kdcsync: warning: %s (not what the daemon runs until a reload)\n",
			err);
		snprintf(sock, sizeof(sock), "%s/%s", state_dir,
			 NODE_CTL_SOCKET);
		free(state_dir);
	}
	ret = node_ctl_request(sock, json ? "status json" : "status", &reply);
	if (ret != KS_EOK) {
		fprintf(stderr,
			"kdcsync: cannot reach kdcsyncd at '%s' (%s): is it running?\n",
			sock, ks_strerror(ret));
		ks_buf_free(&reply);
		return 1;
	}
	fwrite(reply.data, 1, reply.len, stdout);
	ret = reply.len >= 6 && memcmp(reply.data, "error:", 6) == 0;
	ks_buf_free(&reply);
	return ret ? 1 : 0;
}

/*
 * One control request to the daemon of \p path (snapshot, dump); the reply
 * goes to stdout.  The state directory comes from the file as status does.
 */
static int ctl_simple(const char *path, const char *req, char *state_dir,
		      size_t sdlen, bool quiet)
{
	ks_buf_t reply = KS_BUF_INIT;
	char err[600], sock[600];
	char *sd = NULL;
	int ret = node_conf_state_dir(path, &sd, err, sizeof(err));

	if (ret != KS_EOK) {
		fprintf(stderr, "kdcsync: %s\n",
			err[0] ? err : ks_strerror(ret));
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/%s", sd, NODE_CTL_SOCKET);
	if (state_dir != NULL)
		snprintf(state_dir, sdlen, "%s", sd);
	free(sd);
	if (req == NULL)
		return 0;
	ret = node_ctl_request(sock, req, &reply);
	if (ret != KS_EOK) {
		fprintf(stderr,
			"kdcsync: cannot reach kdcsyncd at '%s' (%s): is it running?\n",
			sock, ks_strerror(ret));
		ks_buf_free(&reply);
		return 1;
	}
	ret = reply.len >= 6 && memcmp(reply.data, "error:", 6) == 0;
	if (reply.len == 0) {
		/* the daemon hung up without an answer */
		fprintf(stderr, "kdcsync: '%s': no answer from kdcsyncd\n",
			req);
		ret = 1;
	} else if (ret || !quiet) {
		fwrite(reply.data, 1, reply.len, ret ? stderr : stdout);
	}
	ks_buf_free(&reply);
	return ret ? 1 : 0;
}

/* kdcsync dump [-o FILE]: the daemon writes the file (stdout: via a
 * temporary file in the state directory). */
static int cmd_dump(const char *path, int argc, char **argv)
{
	char req[8192], file[4096], sd[600], tmp[700];
	int ret;

	if (argc == 2 && strcmp(argv[0], "-o") == 0) {
		if (argv[1][0] == '/') {
			snprintf(file, sizeof(file), "%s", argv[1]);
		} else {
			char cwd[2048];
			if (getcwd(cwd, sizeof(cwd)) == NULL) {
				fprintf(stderr, "kdcsync: dump: no cwd\n");
				return 1;
			}
			snprintf(file, sizeof(file), "%s/%s", cwd, argv[1]);
		}
		snprintf(req, sizeof(req), "dump %s", file);
		if (strlen(req) > NODE_CTL_REQ_MAX) {
			fprintf(stderr, "kdcsync: dump: path too long\n");
			return 1;
		}
		return ctl_simple(path, req, NULL, 0, false);
	}
	if (argc != 0) {
		fprintf(stderr, "kdcsync: usage: dump [-o FILE]\n");
		return 1;
	}
	if (ctl_simple(path, NULL, sd, sizeof(sd), true) != 0)
		return 1;
	snprintf(tmp, sizeof(tmp), "%s/dump.%ld", sd, (long)getpid());
	snprintf(req, sizeof(req), "dump %s", tmp);
	if (strlen(req) > NODE_CTL_REQ_MAX) {
		fprintf(stderr, "kdcsync: dump: state_dir path too long\n");
		return 1;
	}
	{
		FILE *f;
		char buf[65536];
		size_t n;
		ret = ctl_simple(path, req, NULL, 0, true);
		if (ret != 0)
			return ret;
		f = fopen(tmp, "r");
		if (f == NULL) {
			fprintf(stderr, "kdcsync: dump: cannot read '%s'\n",
				tmp);
			return 1;
		}
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, stdout);
		fclose(f);
		unlink(tmp);
	}
	return 0;
}

static void hex16(const uint8_t *p, char out[33])
{
	for (size_t i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Whether the store keeps the role of a replica (kdcsync follow). */
static bool store_follows(store_t *st)
{
	store_txn_t *t = NULL;
	char peer[256];
	int role = STORE_ROLE_CONFIG;

	if (store_read_begin(st, &t) != KS_EOK)
		return false;
	if (store_role_get(t, &role, peer, sizeof(peer)) != KS_EOK)
		role = STORE_ROLE_CONFIG;
	store_read_end(t);
	return role == STORE_ROLE_REPLICA;
}

/*
 * kdcsync promote: a running daemon switches (it stops following its
 * primary and starts the new history); a stopped node's store is promoted
 * here.  Either way the file is not rewritten: the reply says which lines
 * to change before the restart as a primary.
 */
static int cmd_promote(const char *path, int argc, char **argv)
{
	node_conf_t *conf = NULL;
	store_t *st = NULL;
	store_meta_t after;
	ks_buf_t reply = KS_BUF_INIT;
	char err[600], sock[600], dir[600], why[300], nh[33], oh[33];
	int ret, rc = 1;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "kdcsync: usage: promote\n");
		return 1;
	}
	ret = node_conf_load(path, &conf, err, sizeof(err));
	if (ret != KS_EOK) {
		fprintf(stderr, "kdcsync: %s\n",
			err[0] ? err : ks_strerror(ret));
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/%s", conf->state_dir, NODE_CTL_SOCKET);
	ret = node_ctl_request(sock, "promote", &reply);
	if (ret == KS_EOK) {
		bool bad =
			reply.len >= 6 && memcmp(reply.data, "error:", 6) == 0;
		fwrite(reply.data, 1, reply.len, bad ? stderr : stdout);
		rc = bad ? 1 : 0;
		goto done;
	}
	if (ret != KS_ENOENT && ret != KS_ECONNREFUSED) {
		fprintf(stderr, "kdcsync: cannot reach kdcsyncd at '%s' (%s)\n",
			sock, ks_strerror(ret));
		goto done;
	}
	/* No daemon: promote the store in place. */
	snprintf(dir, sizeof(dir), "%s/store", conf->state_dir);
	ret = store_open(dir, NULL, &st);
	if (ret != KS_EOK) {
		fprintf(stderr,
			"kdcsync: promote: kdcsyncd is not running and its "
			"store '%s' cannot be opened (%s)\n",
			dir, ks_strerror(ret));
		goto done;
	}
	if (conf->role == NODE_ROLE_PRIMARY && !store_follows(st)) {
		fprintf(stderr,
			"kdcsync: promote: this node is already the primary "
			"([node] role = primary in %s): nothing to promote\n",
			path);
		goto done;
	}
	ret = node_repl_promote_store(st, NULL, &after, why, sizeof(why));
	if (ret != KS_EOK) {
		fprintf(stderr, "kdcsync: promote: %s\n", why);
		goto done;
	}
	ret = store_role_set(st, STORE_ROLE_PRIMARY, NULL);
	if (ret != KS_EOK) {
		fprintf(stderr, "kdcsync: promote: cannot keep the role (%s)\n",
			ks_strerror(ret));
		goto done;
	}
	hex16(after.history, nh);
	hex16(after.prev_history, oh);
	printf("promoted (kdcsyncd not running): new history %s\n"
	       "  continues history %s up to seq %llu: replicas of the old "
	       "primary at or before that seq resume incrementally\n"
	       "kdcsyncd will start as the primary (kept in its store; "
	       "[node] signing_key and listen in %s must be set)\n",
	       nh, oh, (unsigned long long)after.prev_last_seq, path);
	rc = 0;
done:
	store_close(st);
	ks_buf_free(&reply);
	node_conf_free(conf);
	return rc;
}

/*
 * kdcsync follow PEER: the running daemon becomes a replica of PEER at
 * once; we wait (up to 30 s) for PEER's answer: following (exit 0), or
 * refused with nothing changed (exit 1).  Still unanswered: exit 1, the
 * daemon keeps trying ('kdcsync status' shows the link).
 */
static int cmd_follow(const char *path, const char *peer)
{
	ks_buf_t reply = KS_BUF_INIT;
	char err[600], sock[600], req[NODE_CTL_REQ_MAX + 1];
	char *sd = NULL;
	int ret, rc = 1;

	if (strlen(peer) + 8 > NODE_CTL_REQ_MAX || strchr(peer, '\n') ||
	    peer[0] == '\0') {
		fprintf(stderr, "kdcsync: follow: bad peer name\n");
		return 1;
	}
	ret = node_conf_state_dir(path, &sd, err, sizeof(err));
	if (ret != KS_EOK) {
		fprintf(stderr, "kdcsync: %s\n",
			err[0] ? err : ks_strerror(ret));
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/%s", sd, NODE_CTL_SOCKET);
	free(sd);
	snprintf(req, sizeof(req), "follow %s", peer);
	ret = node_ctl_request(sock, req, &reply);
	if (ret != KS_EOK) {
		fprintf(stderr,
			"kdcsync: follow: cannot reach kdcsyncd at '%s' (%s); "
			"start it, then follow\n",
			sock, ks_strerror(ret));
		goto done;
	}
	if (reply.len >= 6 && memcmp(reply.data, "error:", 6) == 0) {
		fwrite(reply.data, 1, reply.len, stderr);
		goto done;
	}
	for (int i = 0; i < 300; i++) {
		ks_buf_reset(&reply);
		ret = node_ctl_request(sock, "follow-result", &reply);
		if (ret != KS_EOK) {
			fprintf(stderr,
				"kdcsync: follow: kdcsyncd stopped "
				"answering (%s)\n",
				ks_strerror(ret));
			goto done;
		}
		if (reply.len >= 6 && memcmp(reply.data, "error:", 6) == 0) {
			fwrite(reply.data, 1, reply.len, stderr);
			goto done;
		}
		if (reply.len >= 10 &&
		    memcmp(reply.data, "following", 9) == 0) {
			fwrite(reply.data, 1, reply.len, stdout);
			rc = 0;
			goto done;
		}
		usleep(100 * 1000);
	}
	fprintf(stderr,
		"kdcsync: follow: '%s' has not answered in 30 s; kdcsyncd "
		"keeps trying (see 'kdcsync status'), nothing is kept until "
		"it answers\n",
		peer);
done:
	ks_buf_free(&reply);
	return rc;
}

/*
 * kdcsync verify PEER: the daemon compares its store and KDB with PEER's
 * over the replication link; we poll for the result.  Exit 0 equal, 1 differ (the
 * keys on stdout), 2 when no comparison could be made.
 */

/* How long verify PEER waits for the comparison by default.  Each side
 * reads its whole KDB for the comparison: 6.0 s for 1,000,000 principals
 * on a quiet 2-core machine, 3.0-3.7 s for 100,000 on a busy one
 * (bench/verify_bench.sh); it grows with the realm and the host's load,
 * so the former fixed 60 s was a guess at both; an hour, like the other
 * requests that wait for the database (ctl.c), and --timeout for more
 * or less. */
#define VERIFY_PEER_TIMEOUT_S 3600
/* The local half of verify PEER: this node's KDB against its store, each
 * line prefixed "local KDB: "; 1 when they differ, 2 when not compared. */
static int verify_local(const char *sock)
{
	ks_buf_t reply = KS_BUF_INIT;
	int ret = node_ctl_request(sock, "verify", &reply), rc;

	if (ret != KS_EOK) {
		fprintf(stderr, "kdcsync: verify: the local KDB check: %s\n",
			ks_strerror(ret));
		ks_buf_free(&reply);
		return 2;
	}
	rc = reply.len >= 6 && memcmp(reply.data, "error:", 6) == 0;
	for (size_t i = 0; i < reply.len;) {
		const char *p = (const char *)reply.data + i;
		const char *nl = memchr(p, '\n', reply.len - i);
		size_t n = nl ? (size_t)(nl - p) : reply.len - i;
		printf("local KDB: %.*s\n", (int)n, p);
		i += n + 1;
	}
	ks_buf_free(&reply);
	return rc;
}

static int cmd_verify_peer(const char *path, const char *peer,
			   unsigned timeout_s)
{
	uint64_t deadline = ks_mono_ns() + (uint64_t)timeout_s * 1000000000u;
	useconds_t pause = 20000;
	ks_buf_t reply = KS_BUF_INIT;
	char err[600], sock[600], req[NODE_CTL_REQ_MAX + 1];
	char *sd = NULL;
	int ret, rc = 2;

	if (strlen(peer) + 7 > NODE_CTL_REQ_MAX || strchr(peer, '\n')) {
		fprintf(stderr, "kdcsync: verify: bad peer name\n");
		return 2;
	}
	ret = node_conf_state_dir(path, &sd, err, sizeof(err));
	if (ret != KS_EOK) {
		fprintf(stderr, "kdcsync: %s\n",
			err[0] ? err : ks_strerror(ret));
		return 2;
	}
	snprintf(sock, sizeof(sock), "%s/%s", sd, NODE_CTL_SOCKET);
	free(sd);
	snprintf(req, sizeof(req), "verify %s", peer);
	for (int i = 0; i == 0 || ks_mono_ns() < deadline; i++) {
		ks_buf_reset(&reply);
		ret = node_ctl_request(sock, i == 0 ? req : "verify-result",
				       &reply);
		if (ret != KS_EOK) {
			fprintf(stderr,
				"kdcsync: cannot reach kdcsyncd at '%s' (%s): "
				"is it running?\n",
				sock, ks_strerror(ret));
			goto done;
		}
		if (reply.len >= 6 && memcmp(reply.data, "error:", 6) == 0) {
			fprintf(stderr, "kdcsync: verify: %.*s",
				(int)(reply.len - 7),
				(const char *)reply.data + 7);
			goto done;
		}
		if (i > 0 && !(reply.len >= 7 &&
			       memcmp(reply.data, "running", 7) == 0)) {
			fwrite(reply.data, 1, reply.len, stdout);
			rc = reply.len >= 5 &&
					     memcmp(reply.data, "equal", 5) == 0
				     ? 0
				     : 1;
			/* what the KDB holds, not only the store */
			int local = verify_local(sock);
			if (local > rc)
				rc = local;
			goto done;
		}
		usleep(pause);
		if (pause < 500000) /* 20 ms for a small realm, then 0.5 s */
			pause += pause / 4;
	}
	fprintf(stderr,
		"kdcsync: verify: no result from '%s' within %u s (the "
		"comparison goes on in kdcsyncd; a longer --timeout waits "
		"for it)\n",
		peer, timeout_s);
done:
	ks_buf_free(&reply);
	return rc;
}

static int cmd_keygen(int argc, char **argv)
{
	const char *prefix = NULL;
	uint8_t id[PROTO_KEYID_LEN];
	int ret;

	if (argc == 2 && strcmp(argv[0], "-o") == 0)
		prefix = argv[1];
	if (prefix == NULL || prefix[0] == '\0') {
		fprintf(stderr, "kdcsync: keygen needs -o PREFIX\n");
		return 1;
	}
	ret = proto_keygen(prefix, id);
	if (ret != KS_EOK) {
		fprintf(stderr,
			"kdcsync: keygen: cannot write '%s.key' / '%s.pub' (%s)\n",
			prefix, prefix, ks_strerror(ret));
		return 1;
	}
	printf("wrote %s.key (private, 0600) and %s.pub; key id ", prefix,
	       prefix);
	for (size_t i = 0; i < sizeof(id); i++)
		printf("%02x", id[i]);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int i = 1;

	/* The tool reports failures in its own one line. */
	ks_log_set_level_all(LOG_CRIT);
	if (argc >= 3 && strcmp(argv[1], "-c") == 0) {
		path = argv[2];
		i = 3;
	}
	if (i >= argc) {
		usage(stderr);
		return 1;
	}
	const char *cmd = argv[i++];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "keygen") == 0)
		return cmd_keygen(argc - i, argv + i);
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "snapshot") == 0 ||
	    strcmp(cmd, "dump") == 0 || strcmp(cmd, "kprop") == 0 ||
	    strcmp(cmd, "verify") == 0 || strcmp(cmd, "promote") == 0 ||
	    strcmp(cmd, "follow") == 0 || strcmp(cmd, "kpropd") == 0 ||
	    strcmp(cmd, "repair") == 0 || strcmp(cmd, "metrics") == 0) {
		if (path == NULL) {
			fprintf(stderr, "kdcsync: '%s' needs -c FILE\n", cmd);
			return 1;
		}
		if (strcmp(cmd, "status") == 0)
			return cmd_status(path, argc - i, argv + i);
		if (strcmp(cmd, "kprop") == 0)
			return node_kprop_cmd_push(path, argc - i, argv + i);
		if (strcmp(cmd, "kpropd") == 0)
			return node_kprop_cmd_serve(path, argc - i, argv + i);
		if (strcmp(cmd, "metrics") == 0 && argc == i)
			return ctl_simple(path, "metrics", NULL, 0, false);
		if (strcmp(cmd, "snapshot") == 0 && argc == i)
			return ctl_simple(path, "snapshot", NULL, 0, false);
		if (strcmp(cmd, "dump") == 0)
			return cmd_dump(path, argc - i, argv + i);
		if (strcmp(cmd, "verify") == 0 && argc == i)
			return ctl_simple(path, "verify", NULL, 0, false);
		/* verify --repair: the same as repair */
		if (strcmp(cmd, "verify") == 0 && argc == i + 1 &&
		    strcmp(argv[i], "--repair") == 0)
			return ctl_simple(path, "repair", NULL, 0, false);
		if (strcmp(cmd, "verify") == 0 && argc == i + 1)
			return cmd_verify_peer(path, argv[i],
					       VERIFY_PEER_TIMEOUT_S);
		if (strcmp(cmd, "verify") == 0 && argc == i + 3 &&
		    strcmp(argv[i + 1], "--timeout") == 0) {
			char *end;
			unsigned long t = strtoul(argv[i + 2], &end, 10);
			if (end == argv[i + 2] || *end != '\0' || t == 0 ||
			    t > 7 * 24 * 3600 || argv[i + 2][0] == '-') {
				fprintf(stderr,
					"kdcsync: verify: --timeout takes "
					"seconds, 1..604800\n");
				return 2;
			}
			return cmd_verify_peer(path, argv[i], (unsigned)t);
		}
		if (strcmp(cmd, "repair") == 0 && argc == i)
			return ctl_simple(path, "repair", NULL, 0, false);
		if (strcmp(cmd, "promote") == 0)
			return cmd_promote(path, argc - i, argv + i);
		if (strcmp(cmd, "follow") == 0 && argc == i + 1)
			return cmd_follow(path, argv[i]);
		fprintf(stderr,
			"kdcsync: '%s' is not available yet (it needs the replication engine)\n",
			cmd);
		return 2;
	}
	fprintf(stderr, "kdcsync: unknown command '%s'\n", cmd);
	usage(stderr);
	return 1;
}
