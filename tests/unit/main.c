/*
 * tests/unit/main.c — runs every registered unit test (see harness.h).
 * usage: unit [substring]
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/harness.h"

#define HARNESS_MAX_TESTS 1024

static struct {
	const char *name;
	harness_fn fn;
} tests[HARNESS_MAX_TESTS];
static int ntests;
static int current_failed;

void
harness_register(const char *name, harness_fn fn)
{
	if (ntests == HARNESS_MAX_TESTS) {
		fprintf(stderr, "harness: too many tests\n");
		exit(2);
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

void
harness_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (current_failed++ < 10) { /* one broken loop is not 10^6 lines */
		fprintf(stdout, "    %s:%d: ", file, line);
		va_start(ap, fmt);
		vfprintf(stdout, fmt, ap);
		va_end(ap);
		fputc('\n', stdout);
	}
}

size_t
harness_split_runs(const char *input, size_t len, void *ctx,
                   void (*reset)(void *), harness_feed_fn feed,
                   void (*check)(void *, const char *run))
{
	char name[64];
	size_t cut, i, runs = 0;

	for (cut = 0; cut <= len; cut++) {
		reset(ctx);
		feed(ctx, input, cut);
		feed(ctx, input + cut, len - cut);
		snprintf(name, sizeof(name), "split at %zu", cut);
		check(ctx, name);
		runs++;
	}
	reset(ctx);
	for (i = 0; i < len; i++)
		feed(ctx, input + i, 1);
	check(ctx, "byte by byte");
	return runs + 1;
}

int
main(int argc, char **argv)
{
	int i, passed = 0, failed = 0;

	for (i = 0; i < ntests; i++) {
		if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL)
			continue;
		current_failed = 0;
		tests[i].fn();
		if (current_failed == 0) {
			passed++;
			printf("ok   %s\n", tests[i].name);
		} else {
			failed++;
			printf("FAIL %s\n", tests[i].name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
