/* SPDX-License-Identifier: MIT */
/*
 * as_loop: AS requests in a loop against the KDC of $KRB5_CONFIG's default
 * realm, counting failures; for bench/scale_bench.sh (does the replica's
 * KDC answer while a full copy is loaded?).
 *
 *   as_loop NAME PASSWORD [INTERVAL_MS]
 *
 * Each request is a whole initial-ticket exchange with the password
 * (pre-authentication included, so the KDC reads and decrypts the
 * principal's keys), one every INTERVAL_MS (default 10).  Runs until
 * SIGTERM or SIGINT, then prints "requests N failures F" and, for the first
 * failures, one line "fail MS_SINCE_START MESSAGE" each.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <krb5.h>

#define MAX_REPORTED 20

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	krb5_context ctx;
	krb5_principal p = NULL;
	long long t0 = mono_ms(), n = 0, failed = 0;
	int interval = argc > 3 ? atoi(argv[3]) : 10;
	char msgs[MAX_REPORTED][200];
	long long at[MAX_REPORTED];

	if (argc < 3) {
		fprintf(stderr, "usage: as_loop NAME PASSWORD [INTERVAL_MS]\n");
		return 2;
	}
	if (krb5_init_context(&ctx) != 0 ||
	    krb5_parse_name(ctx, argv[1], &p) != 0) {
		fprintf(stderr, "as_loop: cannot set up krb5 for %s\n",
			argv[1]);
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop) {
		struct timespec ts = { interval / 1000,
				       (long)(interval % 1000) * 1000000 };
		nanosleep(&ts, NULL);
		if (stop)
			break;
		krb5_creds creds;
		memset(&creds, 0, sizeof(creds));
		krb5_error_code code = krb5_get_init_creds_password(
			ctx, &creds, p, argv[2], NULL, NULL, 0, NULL, NULL);
		n++;
		if (code == 0) {
			krb5_free_cred_contents(ctx, &creds);
			continue;
		}
		if (failed < MAX_REPORTED) {
			const char *m = krb5_get_error_message(ctx, code);
			snprintf(msgs[failed], sizeof(msgs[failed]), "%s", m);
			krb5_free_error_message(ctx, m);
			at[failed] = mono_ms() - t0;
		}
		failed++;
	}
	printf("requests %lld failures %lld\n", n, failed);
	for (long long i = 0; i < failed && i < MAX_REPORTED; i++)
		printf("fail %lld %s\n", at[i], msgs[i]);
	krb5_free_principal(ctx, p);
	krb5_free_context(ctx);
	return 0;
}
