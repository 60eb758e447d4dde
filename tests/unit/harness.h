/*
 * tests/unit/harness.h — a small unit-test harness.
 *
 *   TEST(meter_jscan_feed_split) { CHECK(x == 1); CHECK_U64(a, b); }
 *
 * Tests register themselves; tests/unit/main.c runs them all (or those
 * whose name contains argv[1]) and ends with "N passed, N failed".
 * A CHECK that fails marks the test failed and goes on.
 */
#ifndef TESTS_HARNESS_H
#define TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*harness_fn)(void);

void harness_register(const char *name, harness_fn fn);
void harness_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                             \
	static void name(void);                                                \
	__attribute__((constructor)) static void name##_register(void)         \
	{                                                                      \
		harness_register(#name, name);                                 \
	}                                                                      \
	static void name(void)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			harness_fail(__FILE__, __LINE__, "%s", #cond);         \
	} while (0)

#define CHECK_U64(a, b)                                                        \
	do {                                                                   \
		unsigned long long a_ = (unsigned long long)(a);               \
		unsigned long long b_ = (unsigned long long)(b);               \
		if (a_ != b_)                                                  \
			harness_fail(__FILE__, __LINE__,                       \
			             "%s == %s: %llu != %llu", #a, #b, a_,     \
			             b_);                                      \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)           \
			harness_fail(__FILE__, __LINE__,                       \
			             "%s == %s: \"%s\" != \"%s\"", #a, #b,     \
			             a_ ? a_ : "(null)", b_ ? b_ : "(null)");  \
	} while (0)

/*
 * STYLE.md §23: calls feed(ctx, piece, len) for input split at every
 * offset into two pieces, and once byte by byte, resetting with
 * reset(ctx) before each; after each run check(ctx, run_name) compares
 * against the whole-input result.  Returns the number of runs.
 */
typedef void (*harness_feed_fn)(void *ctx, const char *p, size_t n);
size_t harness_split_runs(const char *input, size_t len, void *ctx,
                          void (*reset)(void *), harness_feed_fn feed,
                          void (*check)(void *, const char *run));

#endif
