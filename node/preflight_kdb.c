/* SPDX-License-Identifier: MIT */
/* The KDB start-up check (see preflight.h, node_preflight_kdb). */
#include <stdio.h>

#include "bridge/bridge.h"
#include "common/errors.h"
#include "node/preflight.h"

int node_preflight_kdb(const node_conf_t *c, enum node_role role, char *err,
		       size_t errlen, char *note, size_t notelen)
{
	bridge_opts_t o = { .kdc_profile = c->kdc_profile };
	bridge_probe_t p;
	int ret = bridge_kdb_probe(&o, &p);

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (note != NULL && notelen > 0)
		note[0] = '\0';
	if (ret == KS_EOK || ret == KS_ENOMEM)
		return ret;
	if (p.rebuildable && role == NODE_ROLE_REPLICA) {
		if (note != NULL && notelen > 0)
			snprintf(note, notelen,
				 "%s: [node] kdc_profile '%s' (realm %s) %s: "
				 "the KDB '%s' cannot be opened (%s): this "
				 "replica rebuilds it from its store (or loads "
				 "it from a full copy when its store is empty)",
				 c->path, c->kdc_profile, p.realm, p.key,
				 p.file, p.why);
		return KS_EOK;
	}
	if (err != NULL && errlen > 0) {
		if (ret == KS_EKRB5)
			snprintf(err, errlen, "%s: %s: '%s': %s", c->path,
				 p.key, p.file, p.why);
		else
			snprintf(err, errlen,
				 "%s: [node] kdc_profile '%s' (realm %s) %s: "
				 "'%s' cannot be used (%s)%s",
				 c->path, c->kdc_profile, p.realm, p.key,
				 p.file, p.why,
				 p.rebuildable ? "; a primary cannot rebuild "
						 "its KDB"
					       : "");
	}
	return KS_ECONFVAL;
}
