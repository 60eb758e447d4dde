/*
 * tests/unit/test_proxy_events.c — proxy/events.c, the live event ring.
 *
 * Covers: a reader starting at proxy_events_next sees only what is
 * published after, in order, with seq counting from 1; reads come in
 * batches of at most cap and resume where they stopped; a reader that
 * falls more than PROXY_EVENTS_RING behind is told exactly how many it
 * lost and resumes at the oldest kept; a NULL ring is harmless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/events.h"
#include "tests/unit/harness.h"

static void
publish_n(struct proxy_events *ev, int from, int n)
{
	struct store_record r;
	int i;

	memset(&r, 0, sizeof(r));
	for (i = from; i < from + n; i++) {
		snprintf(r.workspace, sizeof(r.workspace), "ws%d", i);
		r.input_tokens = (uint64_t)i;
		proxy_events_publish(ev, &r);
	}
}

TEST(proxy_events_read_in_order_and_batches)
{
	struct proxy_events *ev = proxy_events_new();
	struct proxy_events_item *out = calloc(8, sizeof(*out));
	uint64_t cur, lost = 99;
	size_t n;

	CHECK(ev != NULL && out != NULL);
	if (ev == NULL || out == NULL)
		goto done;
	publish_n(ev, 0, 2); /* before the reader: not seen */
	cur = proxy_events_next(ev);
	CHECK_U64(cur, 3);
	CHECK_U64(proxy_events_read(ev, &cur, out, 8, &lost), 0);
	publish_n(ev, 100, 5);
	n = proxy_events_read(ev, &cur, out, 3, &lost);
	CHECK_U64(n, 3);
	CHECK_U64(lost, 0);
	CHECK_U64(out[0].seq, 3);
	CHECK_STR(out[0].rec.workspace, "ws100");
	CHECK_U64(out[2].rec.input_tokens, 102);
	n = proxy_events_read(ev, &cur, out, 8, &lost);
	CHECK_U64(n, 2);
	CHECK_U64(out[1].seq, 7);
	CHECK_U64(cur, 8);
done:
	free(out);
	proxy_events_free(ev);
}

TEST(proxy_events_read_reports_lost)
{
	struct proxy_events *ev = proxy_events_new();
	struct proxy_events_item *out = calloc(4, sizeof(*out));
	uint64_t cur, lost = 0;
	size_t n;

	CHECK(ev != NULL && out != NULL);
	if (ev == NULL || out == NULL)
		goto done;
	cur = proxy_events_next(ev);
	publish_n(ev, 0, PROXY_EVENTS_RING + 10);
	n = proxy_events_read(ev, &cur, out, 4, &lost);
	CHECK_U64(lost, 10);
	CHECK_U64(n, 4);
	CHECK_U64(out[0].seq, 11);
	CHECK_U64(out[0].rec.input_tokens, 10);
	n = proxy_events_read(ev, &cur, out, 4, &lost);
	CHECK_U64(lost, 0);
	CHECK_U64(out[0].seq, 15);
done:
	free(out);
	proxy_events_free(ev);
}

TEST(proxy_events_null_is_harmless)
{
	struct proxy_events_item it;
	uint64_t cur = 1, lost = 5;

	proxy_events_publish(NULL, NULL);
	proxy_events_set_wake(NULL, NULL);
	CHECK_U64(proxy_events_read(NULL, &cur, &it, 1, &lost), 0);
	CHECK_U64(lost, 0);
}
