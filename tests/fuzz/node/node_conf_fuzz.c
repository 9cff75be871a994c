/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary configuration files through node_conf_load().
 * Every input is either a valid configuration or an error with a message
 * naming the file; never a crash or a leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "node/conf.h"

static char path[64];

static void cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	node_conf_t *c = NULL;
	char err[600];
	FILE *f;
	int ret;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/ks-conf-fuzz.%ld.conf",
			 (long)getpid());
		atexit(cleanup);
	}
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	ret = node_conf_load(path, &c, err, sizeof(err));
	if (ret == KS_EOK) {
		if (c == NULL || c->name == NULL || c->state_dir == NULL)
			abort();
		node_conf_free(c);
	} else if (c != NULL || strstr(err, path) == NULL) {
		abort(); /* errors name the file and return nothing */
	}
	return 0;
}
