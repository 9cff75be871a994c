/* SPDX-License-Identifier: MIT */
/*
 * The three renderers of node_status_t (node/status.h) over one filled
 * structure: the JSON contract names (DESIGN.md §4), Prometheus label
 * escaping, histogram buckets (cumulative, +Inf, sum, count), per-peer
 * error reasons, and the text report's peer lines.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "node/status.h"
#include "helpers/test.h"

static void fill(node_status_t *s, node_status_peer_t *peers)
{
	*s = (node_status_t){ .role = "replica",
			      .role_source = "config",
			      .pid = 42,
			      .have_meta = true,
			      .last_seq = 9,
			      .applied_seq = 7,
			      .records = 3 };
	strcpy(s->name, "kdc2.example.com");
	strcpy(s->config, "/etc/kdcsync/kdcsync.conf");
	strcpy(s->history, "00112233445566778899aabbccddeeff");
	s->repl.present = true;
	strcpy(s->repl.startup, "scanning");
	s->repl.startup_retry_ms = -1;
	s->repl.scan_running = true;
	s->repl.scan_progress = 5000;
	s->loop = (node_status_loop_t){ .present = true,
					.iterations = 10,
					.busy_max_us = 12345,
					.busy_max_60s_us = 2345,
					.over_10ms = 2 };
	ks_hist_observe(&s->loop.busy, 12345);
	memset(peers, 0, sizeof(*peers));
	strcpy(peers->name, "kdc\"1\\x");
	peers->mode = "native";
	strcpy(peers->state, "established");
	peers->direction = "outbound";
	peers->link_up = true;
	peers->repl.present = true;
	strcpy(peers->repl.state, "stream");
	peers->repl.position = 7;
	peers->repl.peer_last_seq = 9;
	peers->repl.lag_changes = 2;
	peers->repl.lag_s = 1;
	node_status_count_error(peers->repl.errors, &peers->repl.n_errors,
				KS_ECONNRESET);
	node_status_count_error(peers->repl.errors, &peers->repl.n_errors,
				KS_ECONNRESET);
	ks_hist_observe(&peers->repl.propagation, 700);	     /* le 0.001 */
	ks_hist_observe(&peers->repl.propagation, 90000000); /* +Inf */
	s->peers = peers;
	s->n_peers = 1;
}

static char *render(int (*fn)(const node_status_t *, ks_buf_t *),
		    const node_status_t *s)
{
	ks_buf_t b = KS_BUF_INIT;
	assert_ks_ok(fn(s, &b));
	assert_ks_ok(ks_buf_append(&b, "", 1));
	return (char *)b.data;
}

/* A cascade's middle node: follows "kdc1", relays to "kdc3". */
static void fill_relay(node_status_t *s, node_status_peer_t peers[2])
{
	fill(s, &peers[0]);
	strcpy(peers[0].name, "kdc1");
	peers[0].repl.link_role = "upstream";
	peers[1] = peers[0];
	strcpy(peers[1].name, "kdc3");
	peers[1].repl.link_role = "downstream";
	peers[1].repl.relayed = true;
	peers[1].repl.primary = true;
	strcpy(s->upstream, "kdc1");
	s->peers = peers;
	s->n_peers = 2;
}

static void test_relay_both_directions(void **st)
{
	node_status_t s;
	node_status_peer_t p[2];
	(void)st;
	fill_relay(&s, p);
	char *j = render(node_status_json, &s);
	static const char *const want[] = {
		"\"upstream\":\"kdc1\"",
		"\"downstream\":[\"kdc3\"]",
		"\"relay\":true",
		"\"link_role\":\"upstream\",\"relayed\":false",
		"\"link_role\":\"downstream\",\"relayed\":true",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(j, want[i]) == NULL)
			fail_msg("JSON lacks %s: %s", want[i], j);
	free(j);
	char *t = render(node_status_prom, &s);
	assert_non_null(strstr(t, "kdcsync_peer_link_role{peer=\"kdc1\","
				  "link_role=\"upstream\"} 1\n"));
	assert_non_null(strstr(t, "kdcsync_peer_link_role{peer=\"kdc3\","
				  "link_role=\"downstream\"} 1\n"));
	assert_non_null(strstr(t, "kdcsync_peer_relayed{peer=\"kdc3\"} 1\n"));
	free(t);
	t = render(node_status_text, &s);
	assert_non_null(strstr(t, "upstream:  kdc1\n"));
	assert_non_null(strstr(t, "  kdc3 (native, downstream, relayed): "));
	free(t);
	/* a node without links: no upstream, no downstream */
	node_status_peer_t one;
	fill(&s, &one);
	j = render(node_status_json, &s);
	assert_non_null(strstr(j, "\"upstream\":null,\"downstream\":[],"
				  "\"relay\":false"));
	free(j);
}

static void test_json_contract(void **st)
{
	node_status_t s;
	node_status_peer_t p;
	(void)st;
	fill(&s, &p);
	char *j = render(node_status_json, &s);
	static const char *const want[] = {
		"\"role\":\"replica\"",
		"\"history\":\"0011",
		"\"last_seq\":9",
		"\"applied_seq\":7",
		"\"records\":3",
		"\"peers\":[{\"name\":\"kdc\\\"1\\\\x\"",
		"\"mode\":\"native\"",
		"\"state\":\"established\"",
		"\"repl\":{\"state\":\"stream\"",
		"\"lag_changes\":2",
		"\"lag_s\":1",
		"\"full_transfers\":0",
		"\"incremental_sessions\":0",
		"\"last_error\":null",
		"\"errors\":{\"KS_ECONNRESET\":2}",
		"\"loop\":{\"iterations\":10,",
		"\"busy_max_us\":12345,\"busy_max_60s_us\":2345,",
		"\"over_10ms\":2,\"over_100ms\":0,\"cpu_max_us\":0,",
		"\"scan_running\":true,\"scan_progress\":5000,",
		"\"startup\":\"scanning\",\"startup_error\":null",
		"\"startup_failures\":0,\"startup_retry_ms\":-1",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(j, want[i]) == NULL)
			fail_msg("JSON lacks %s: %s", want[i], j);
	assert_int_equal(j[strlen(j) - 1], '\n');
	free(j);
}

static void test_prom(void **st)
{
	node_status_t s;
	node_status_peer_t p;
	(void)st;
	fill(&s, &p);
	char *t = render(node_status_prom, &s);
	static const char *const want[] = {
		"kdcsync_role{role=\"replica\"} 1\n",
		"kdcsync_applied_seq 7\n",
		"kdcsync_peer_up{peer=\"kdc\\\"1\\\\x\"} 1\n",
		"kdcsync_peer_lag_changes{peer=\"kdc\\\"1\\\\x\"} 2\n",
		"kdcsync_peer_errors_total{peer=\"kdc\\\"1\\\\x\",reason="
		"\"connreset\"} 2\n",
		"kdcsync_propagation_seconds_bucket{peer=\"kdc\\\"1\\\\x\","
		"le=\"0.0005\"} 0\n",
		"kdcsync_propagation_seconds_bucket{peer=\"kdc\\\"1\\\\x\","
		"le=\"0.001\"} 1\n",
		"kdcsync_propagation_seconds_bucket{peer=\"kdc\\\"1\\\\x\","
		"le=\"60\"} 1\n",
		"kdcsync_propagation_seconds_bucket{peer=\"kdc\\\"1\\\\x\","
		"le=\"+Inf\"} 2\n",
		"kdcsync_propagation_seconds_sum{peer=\"kdc\\\"1\\\\x\"} "
		"90.000700\n",
		"kdcsync_propagation_seconds_count{peer=\"kdc\\\"1\\\\x\"} 2\n",
		"# TYPE kdcsync_propagation_seconds histogram\n",
		"kdcsync_loop_busy_seconds_bucket{le=\"0.025\"} 1\n",
		"kdcsync_loop_busy_seconds_count 1\n",
		"kdcsync_loop_busy_max_seconds 0.002345\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(t, want[i]) == NULL)
			fail_msg("exposition lacks %s", want[i]);
	/* one HELP/TYPE per metric */
	const char *first = strstr(t, "# TYPE kdcsync_peer_up ");
	assert_null(strstr(first + 1, "# TYPE kdcsync_peer_up "));
	free(t);
}

static void test_text(void **st)
{
	node_status_t s;
	node_status_peer_t p;
	(void)st;
	fill(&s, &p);
	char *t = render(node_status_text, &s);
	assert_non_null(strstr(t, "node:      kdc2.example.com\n"));
	assert_non_null(strstr(t, "role:      replica\n"));
	assert_non_null(strstr(t, "loop:      longest iteration 12 ms"));
	assert_non_null(strstr(t, "  kdc\"1\\x (native): established"));
	assert_non_null(strstr(
		t,
		"    replication: stream; applied 7 of 9 (lag 2 changes, 1 s)"));
	free(t);
}

/* a primary in its start-up scan says so (a replica has no start-up) */
static void test_text_startup(void **st)
{
	node_status_t s;
	node_status_peer_t p;
	bool found;
	(void)st;
	fill(&s, &p);
	s.repl.primary = true;
	char *t = render(node_status_text, &s);
	found = strstr(t, "start-up:  scanning: replicas wait until the KDB "
			  "was scanned (5000 objects read so far)\n") != NULL;
	free(t);
	assert_true(found);
	/* a failed one says when it tries again */
	strcpy(s.repl.startup, "failed");
	strcpy(s.repl.startup_error, "scan of the KDB failed (x)");
	s.repl.startup_failures = 2;
	s.repl.startup_retry_ms = 1500;
	t = render(node_status_text, &s);
	found = strstr(t, "start-up:  failed: replicas wait until the KDB was "
			  "scanned (5000 objects read so far); scan of the "
			  "KDB failed (x)\n           retry 2 in 1500 ms\n") !=
		NULL;
	free(t);
	assert_true(found);
	strcpy(s.repl.startup, "ready");
	t = render(node_status_text, &s);
	found = strstr(t, "start-up:") != NULL;
	free(t);
	assert_false(found);
}

static void test_error_reasons_overflow(void **st)
{
	node_status_reason_t r[NODE_STATUS_ERR_REASONS];
	size_t n = 0;
	(void)st;
	for (int i = 0; i < NODE_STATUS_ERR_REASONS + 3; i++)
		node_status_count_error(r, &n, -1000 - i);
	assert_int_equal(n, NODE_STATUS_ERR_REASONS);
	assert_int_equal(r[NODE_STATUS_ERR_REASONS - 1].count, 4);
	assert_int_equal(r[0].count, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_contract),
		cmocka_unit_test(test_prom),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_startup),
		cmocka_unit_test(test_relay_both_directions),
		cmocka_unit_test(test_error_reasons_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
