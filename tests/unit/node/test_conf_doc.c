/* SPDX-License-Identifier: MIT */
/*
 * kdcsync.conf(5) against the key table in node/conf_keys.c: every key the
 * loader accepts is documented in its section with its value type, its
 * default (or "required" / "none") and its range, and the manual documents
 * no key the loader would reject.  The manual's source is
 * deploy/man/kdcsync.conf.5.scd (argv[1]; scdoc turns it into the man page).
 * With --list, print the table instead (for writing the manual).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/test.h"

#include "node/conf.h"

static const char *doc_path;
static char *doc; /* the whole source */

/* The text of section "## [NAME]" up to the next "## " header. */
static char *section_text(const char *section)
{
	char head[64];
	const char *s, *e;

	snprintf(head, sizeof(head), "\n## [%s]", section);
	s = strstr(doc, head);
	if (s == NULL)
		return NULL;
	s += strlen(head);
	e = strstr(s, "\n## ");
	if (e == NULL)
		e = strstr(s, "\n# ");
	if (e == NULL)
		e = s + strlen(s);
	return strndup(s, (size_t)(e - s));
}

static void test_every_key_documented(void **st)
{
	(void)st;
	for (size_t i = 0; i < node_conf_key_count(); i++) {
		node_conf_key_info_t k;
		char entry[128], want[160], *sec, *at, *end;

		node_conf_key_describe(i, &k);
		sec = section_text(k.section);
		if (sec == NULL)
			fail_msg("%s: no '## [%s]' section", doc_path,
				 k.section);
		/* "*name* = _VALUE_" starts the entry */
		snprintf(entry, sizeof(entry), "\n*%s* = _%s_", k.name,
			 k.value);
		at = strstr(sec, entry);
		if (at == NULL)
			fail_msg("%s: [%s] %s is not documented as '%s'",
				 doc_path, k.section, k.name, entry + 1);
		at += strlen(entry);
		end = strstr(at, "\n\n*");
		if (end == NULL)
			end = at + strlen(at);
		*end = '\0';
		if (k.required)
			snprintf(want, sizeof(want), "Required.");
		else if (k.def != NULL)
			snprintf(want, sizeof(want), "Default: %s.", k.def);
		else
			snprintf(want, sizeof(want), "Default: none");
		if (strstr(at, want) == NULL)
			fail_msg("%s: [%s] %s: '%s' missing", doc_path,
				 k.section, k.name, want);
		if (k.range[0]) {
			snprintf(want, sizeof(want), "Range: %s.", k.range);
			if (strstr(at, want) == NULL)
				fail_msg("%s: [%s] %s: '%s' missing", doc_path,
					 k.section, k.name, want);
		}
		if (k.repeat && strstr(at, "more than once") == NULL)
			fail_msg("%s: [%s] %s may repeat: say so", doc_path,
				 k.section, k.name);
		free(sec);
	}
}

/* Every "*key* = " entry of a section is a key of the table. */
static void test_no_stale_keys(void **st)
{
	static const char *const sections[] = { "node", "tls", "peers", "kprop",
						"metrics" };
	(void)st;
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		char *sec = section_text(sections[s]);
		const char *p = sec;
		if (sec == NULL)
			fail_msg("%s: no '## [%s]' section", doc_path,
				 sections[s]);
		while ((p = strstr(p, "\n*")) != NULL) {
			char name[64];
			bool found = false;
			if (sscanf(p, "\n*%63[a-z_]* = ", name) != 1 ||
			    strstr(p, "* = ") == NULL ||
			    strstr(p, "* = ") > strchr(p + 1, '\n')) {
				p++;
				continue;
			}
			for (size_t i = 0; i < node_conf_key_count(); i++) {
				node_conf_key_info_t k;
				node_conf_key_describe(i, &k);
				if (strcmp(k.section, sections[s]) == 0 &&
				    strcmp(k.name, name) == 0)
					found = true;
			}
			if (!found)
				fail_msg("%s: [%s] %s is documented but the "
					 "loader does not know it",
					 doc_path, sections[s], name);
			p++;
		}
		free(sec);
	}
}

int main(int argc, char **argv)
{
	FILE *f;
	long n;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < node_conf_key_count(); i++) {
			node_conf_key_info_t k;
			node_conf_key_describe(i, &k);
			printf("[%s] %s = %s; %s%s; range %s%s\n", k.section,
			       k.name, k.value, k.required ? "required" : "",
			       k.def ? k.def : "(none)", k.range,
			       k.repeat ? "; repeats" : "");
		}
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: test_conf_doc DOC.scd | --list\n");
		return 2;
	}
	doc_path = argv[1];
	f = fopen(doc_path, "r");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		fprintf(stderr, "cannot read %s\n", doc_path);
		return 2;
	}
	rewind(f);
	doc = calloc(1, (size_t)n + 2);
	doc[0] = '\n'; /* so a header on the first line matches too */
	if (fread(doc + 1, 1, (size_t)n, f) != (size_t)n)
		return 2;
	fclose(f);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key_documented),
		cmocka_unit_test(test_no_stale_keys),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(doc);
	return rc;
}
