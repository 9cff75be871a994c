/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the strict dump-line parsers (bridge/convert.c):
 * any input is either rejected with KS_EMALF/KS_ENOMEM or re-encodes to
 * exactly the same bytes.  Leaks and overreads are caught by ASan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <krb5.h>

#include "bridge/convert.h"
#include "common/errors.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static krb5_context kctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (kctx == NULL) {
		setenv("KRB5_CONFIG", "/dev/null", 1);
		if (krb5_init_context(&kctx))
			abort();
		ks_log_set_level_all(LOG_CRIT);
	}
	const char *line = (const char *)data;
	const char *name;
	size_t nlen;
	bool pol;
	(void)bridge_convert_line_name(line, size, &name, &nlen, &pol);

	ks_buf_t out = KS_BUF_INIT;
	osa_policy_ent_rec *p = NULL;
	int ret = bridge_convert_policy_parse(line, size, &p);
	if (ret == KS_EOK) {
		if (bridge_convert_policy_encode(p, &out) != KS_EOK ||
		    out.len != size || memcmp(out.data, data, size))
			abort();
		bridge_convert_policy_free(p);
	} else if (ret != KS_EMALF && ret != KS_ENOMEM) {
		abort();
	}
	ks_buf_reset(&out);
	krb5_db_entry *e = NULL;
	ret = bridge_convert_princ_parse(kctx, line, size, &e);
	if (ret == KS_EOK) {
		char *uname = NULL;
		if (krb5_unparse_name(kctx, e->princ, &uname) ||
		    bridge_convert_princ_encode(e, uname, true, &out) !=
			    KS_EOK ||
		    out.len != size || memcmp(out.data, data, size))
			abort();
		krb5_free_unparsed_name(kctx, uname);
		bridge_convert_princ_free(kctx, e);
	} else if (ret != KS_EMALF && ret != KS_ENOMEM) {
		abort();
	}
	ks_buf_free(&out);
	return 0;
}
