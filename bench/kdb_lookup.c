/* SPDX-License-Identifier: MIT */
/*
 * kdb_lookup: CPU time of KDB lookups through libkdb5, for comparing a
 * realm whose [dbmodules] goes straight to db2 with one that goes through
 * the kdcsync KDB module (bench/as_rate.sh runs it on both).  CPU time
 * (getrusage), not wall time, so that other load on the machine counts
 * less.
 *
 *   KRB5_CONFIG=kdc.conf:krb5.conf kdb_lookup NAME COUNT
 *
 * Opens the KDB like krb5kdc (KRB5_KDB_SRV_TYPE_KDC), then calls
 * krb5_db_get_principal(NAME) COUNT times and prints
 * "lookups N cpu_ns_per_lookup X".
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <krb5.h>
#include <kdb.h>

static double cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

int main(int argc, char **argv)
{
	krb5_context ctx;
	krb5_principal p;
	krb5_db_entry *e;

	if (argc != 3) {
		fprintf(stderr, "usage: kdb_lookup NAME COUNT\n");
		return 2;
	}
	long n = atol(argv[2]);
	if (krb5_init_context(&ctx) != 0 ||
	    krb5_parse_name(ctx, argv[1], &p) != 0)
		return 1;
	if (krb5_db_open(ctx, NULL, KRB5_KDB_OPEN_RO | KRB5_KDB_SRV_TYPE_KDC) !=
	    0) {
		fprintf(stderr, "kdb_lookup: cannot open the KDB\n");
		return 1;
	}
	double t0 = cpu_ns();
	for (long i = 0; i < n; i++) {
		if (krb5_db_get_principal(ctx, p, 0, &e) != 0) {
			fprintf(stderr, "kdb_lookup: lookup failed\n");
			return 1;
		}
		krb5_db_free_principal(ctx, e);
	}
	printf("lookups %ld cpu_ns_per_lookup %.0f\n", n,
	       (cpu_ns() - t0) / (double)n);
	krb5_free_principal(ctx, p);
	krb5_db_fini(ctx);
	krb5_free_context(ctx);
	return 0;
}
