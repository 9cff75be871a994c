/* SPDX-License-Identifier: MIT */
/* Status data helpers shared by the renderers and the fillers (status.h). */
#include "node/status.h"

#include <stdio.h>
#include <stdlib.h>

void node_status_free(node_status_t *s)
{
	if (s == NULL)
		return;
	free(s->peers);
	free(s->kprop.peers);
	s->peers = NULL;
	s->kprop.peers = NULL;
	s->n_peers = s->kprop.n_peers = 0;
}

void node_status_count_error(node_status_reason_t *r, size_t *n, int code)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (r[i].code == code) {
			r[i].count++;
			return;
		}
	}
	if (*n < NODE_STATUS_ERR_REASONS) {
		r[*n].code = code;
		r[*n].count = 1;
		(*n)++;
		return;
	}
	/* all slots taken: the last one collects the rest */
	r[NODE_STATUS_ERR_REASONS - 1].count++;
}

void node_status_iso(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0)
		snprintf(buf, len, "never");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}
