/* SPDX-License-Identifier: MIT */
/*
 * repl_probe: how long until a KDC knows a principal.  For the propagation
 * benchmark (bench/repl_bench.sh).  Reads one principal name per line on
 * stdin; for each, from the moment the line is read, sends AS requests to
 * the KDC of $KRB5_CONFIG's default realm until the answer is no longer
 * "client not found" (KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN), and prints
 * "NAME MICROSECONDS ATTEMPTS" (MICROSECONDS -1 after the timeout).
 *
 * No password is given and no prompter: a known principal fails at once
 * with another error (pre-authentication required, or no password), so
 * each attempt is one AS exchange without any string-to-key work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <krb5.h>

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One AS exchange: 0 = known, 1 = unknown, -1 = local failure. */
static int probe(krb5_context ctx, const char *name)
{
	krb5_principal p = NULL;
	krb5_creds creds;
	krb5_get_init_creds_opt *opt = NULL;
	krb5_error_code code;
	int ret = -1;

	memset(&creds, 0, sizeof(creds));
	if (krb5_parse_name(ctx, name, &p) != 0)
		return -1;
	if (krb5_get_init_creds_opt_alloc(ctx, &opt) != 0)
		goto out;
	code = krb5_get_init_creds_password(ctx, &creds, p, NULL, NULL, NULL, 0,
					    NULL, opt);
	if (code == KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN)
		ret = 1;
	else if (code == KRB5_KDC_UNREACH || code == KRB5_REALM_CANT_RESOLVE)
		ret = -1;
	else
		ret = 0;
	if (code == 0)
		krb5_free_cred_contents(ctx, &creds);
out:
	krb5_get_init_creds_opt_free(ctx, opt);
	krb5_free_principal(ctx, p);
	return ret;
}

int main(int argc, char **argv)
{
	krb5_context ctx;
	char line[1024];
	long long timeout_us = (argc > 1 ? atoll(argv[1]) : 30) * 1000000;

	if (krb5_init_context(&ctx) != 0) {
		fprintf(stderr, "repl_probe: krb5_init_context failed\n");
		return 1;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		long long t0 = mono_us(), dt = -1;
		long attempts = 0;
		int r;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		do {
			r = probe(ctx, line);
			attempts++;
			if (r == 0) {
				dt = mono_us() - t0;
				break;
			}
			if (r < 0) {
				fprintf(stderr,
					"repl_probe: KDC unreachable\n");
				break;
			}
		} while (mono_us() - t0 < timeout_us);
		printf("%s %lld %ld\n", line, dt, attempts);
		fflush(stdout);
	}
	krb5_free_context(ctx);
	return 0;
}
