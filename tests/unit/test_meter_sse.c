/*
 * tests/unit/test_meter_sse.c — meter/sse.c, the event-stream parser.
 *
 * Every vector is fed whole, split at every offset and byte by byte
 * (STYLE.md §23), always looping on meter_sse_feed until the piece is
 * consumed (it stops after each dispatch); the log of data_line offsets,
 * joined data, event types, has_data and end offsets must be the same for
 * every split.  Covers data-only and named events, multi-line data joined
 * with '\n', CR / LF / CRLF line endings (a CRLF split between pieces),
 * comments, fields with no colon, `data:` with no space, an event type over
 * METER_SSE_MAX_EVENT_TYPE, one dispatch per feed call, and finish()
 * dispatching a last event that has no closing blank line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/sse.h"
#include "tests/unit/harness.h"
#include "tests/unit/sbuf.h"

/* --- recorder -------------------------------------------------------- */

struct srec {
	struct meter_sse *sse;
	int log_lines; /* log data_line offsets */
	struct sbuf log;
	struct sbuf data; /* data of the event in progress */
	int dispatches;
	uint64_t fed;
	const char *want; /* expected log after finish */
	uint64_t want_offset;
};

static void
on_data_line(void *arg, uint64_t off)
{
	struct srec *r = arg;

	if (r->log_lines)
		sb_printf(&r->log, "L%llu ", (unsigned long long)off);
}

static void
on_data(void *arg, const char *buf, size_t len)
{
	struct srec *r = arg;

	sb_add(&r->data, buf, len);
}

static void
on_dispatch(void *arg, const char *type, size_t typelen, int has_data,
            uint64_t end)
{
	struct srec *r = arg;

	sb_add(&r->log, "E<", 2);
	sb_add(&r->log, type, typelen);
	sb_add(&r->log, ">{", 2);
	sb_add(&r->log, sb_str(&r->data), r->data.len);
	sb_printf(&r->log, "} d=%d @%llu\n", has_data, (unsigned long long)end);
	sb_clear(&r->data);
	r->dispatches++;
}

static const struct meter_sse_callbacks rec_cbs = {on_data_line, on_data,
                                                   on_dispatch};

static void
srec_reset(void *arg)
{
	struct srec *r = arg;

	meter_sse_free(r->sse);
	r->sse = meter_sse_new(&rec_cbs, r);
	if (r->sse == NULL)
		abort();
	sb_clear(&r->log);
	sb_clear(&r->data);
	r->dispatches = 0;
	r->fed = 0;
}

/* Loops until the piece is consumed; each call may stop only right after
 * its one dispatch. */
static void
srec_feed(void *arg, const char *p, size_t n)
{
	struct srec *r = arg;

	while (n > 0) {
		int before = r->dispatches;
		size_t k = meter_sse_feed(r->sse, p, n);

		if (k == 0 || k > n) {
			harness_fail(__FILE__, __LINE__,
			             "meter_sse_feed consumed %zu of %zu", k,
			             n);
			return;
		}
		if (r->dispatches - before > 1)
			harness_fail(__FILE__, __LINE__,
			             "%d dispatches in one feed call",
			             r->dispatches - before);
		if (k < n && r->dispatches - before != 1)
			harness_fail(
			    __FILE__, __LINE__,
			    "feed stopped at %zu of %zu without a dispatch", k,
			    n);
		r->fed += k;
		p += k;
		n -= k;
	}
}

static void
srec_finish(struct srec *r)
{
	meter_sse_finish(r->sse);
	if (r->data.len > 0) /* data never dispatched */
		sb_printf(&r->log, "REST{%s}\n", sb_str(&r->data));
}

static void
srec_check(void *arg, const char *run)
{
	struct srec *r = arg;

	srec_finish(r);
	if (strcmp(sb_str(&r->log), r->want) != 0)
		harness_fail(__FILE__, __LINE__, "%s:\ngot:\n%s\nwant:\n%s",
		             run, sb_str(&r->log), r->want);
	if (meter_sse_offset(r->sse) != r->fed || r->fed != r->want_offset)
		harness_fail(__FILE__, __LINE__,
		             "%s: offset %llu, fed %llu, want %llu", run,
		             (unsigned long long)meter_sse_offset(r->sse),
		             (unsigned long long)r->fed,
		             (unsigned long long)r->want_offset);
}

/* Whole, every split, byte by byte: all must log `want`. */
static void
run_sse(const char *in, size_t len, int log_lines, const char *want)
{
	struct srec r;

	memset(&r, 0, sizeof(r));
	r.log_lines = log_lines;
	r.want = want;
	r.want_offset = len;
	srec_reset(&r);
	srec_feed(&r, in, len);
	srec_check(&r, "whole");
	harness_split_runs(in, len, &r, srec_reset, srec_feed, srec_check);
	meter_sse_free(r.sse);
	free(r.log.p);
	free(r.data.p);
}

#define RUN(in, lines, want) run_sse(in, strlen(in), lines, want)

/* --- vectors ---------------------------------------------------------- */

TEST(meter_sse_feed_data_only)
{
	/* Chat completions: data-only events, then the [DONE] sentinel. */
	RUN("data: {\"a\":1}\n\ndata: [DONE]\n\n", 1,
	    "L6 E<>{{\"a\":1}} d=1 @15\n"
	    "L21 E<>{[DONE]} d=1 @29\n");
}

TEST(meter_sse_feed_named_events)
{
	RUN("event: response.created\ndata: {}\n\nevent: x\ndata: 1\n\n", 1,
	    "L30 E<response.created>{{}} d=1 @34\n"
	    "L49 E<x>{1} d=1 @52\n");
	/* The type belongs to one event only; the last event: line wins. */
	RUN("event: a\nevent: bb\ndata: 1\n\ndata: 2\n\n", 0,
	    "E<bb>{1} d=1 @28\n"
	    "E<>{2} d=1 @37\n");
	/* An event line before data or after it: same event. */
	RUN("data: 1\nevent: late\n\n", 0, "E<late>{1} d=1 @21\n");
}

TEST(meter_sse_feed_multiline_data)
{
	/* Lines joined with '\n'; an empty data line adds an empty line. */
	RUN("data: a\ndata: b\ndata:\n\n", 0, "E<>{a\nb\n} d=1 @23\n");
	RUN("data: a\ndata\ndata: b\n\n", 0, "E<>{a\n\nb} d=1 @22\n");
	RUN("data: {\"x\":\ndata: 1}\n\n", 1,
	    "L6 L18 E<>{{\"x\":\n1}} d=1 @22\n");
}

TEST(meter_sse_feed_line_endings)
{
	/* CR only */
	RUN("data: x\r\rdata: y\r\r", 1,
	    "L6 E<>{x} d=1 @9\n"
	    "L15 E<>{y} d=1 @18\n");
	/* LF only */
	RUN("data: x\n\ndata: y\n\n", 1,
	    "L6 E<>{x} d=1 @9\n"
	    "L15 E<>{y} d=1 @18\n");
	/* CRLF: the blank line dispatches at its CR; the LF is the same line
	 * end, consumed by the next call, even when it comes in the next
	 * piece (every split of this vector cuts some CRLF in two). */
	RUN("data: x\r\n\r\ndata: y\r\n\r\n", 1,
	    "L6 E<>{x} d=1 @10\n"
	    "L17 E<>{y} d=1 @21\n");
	/* Mixed, inside one event. */
	RUN("data: a\r\ndata: b\rdata: c\n\r\n", 0, "E<>{a\nb\nc} d=1 @26\n");
	/* CR then LF across events: CR CR LF is two line ends, not three. */
	RUN("data: a\r\r\ndata: b\n\n", 0,
	    "E<>{a} d=1 @9\n"
	    "E<>{b} d=1 @19\n");
}

TEST(meter_sse_feed_comments)
{
	/* A block of comments dispatches with no data. */
	RUN(": hello\n\n", 1, "E<>{} d=0 @9\n");
	RUN(": c1\n: c2\ndata: x\n\n", 1, "L16 E<>{x} d=1 @19\n");
	RUN(":\n\n", 0, "E<>{} d=0 @3\n");
	/* A stray blank line is an empty dispatch. */
	RUN("\ndata: x\n\n", 0, "E<>{} d=0 @1\nE<>{x} d=1 @10\n");
	/* ": data: x" is a comment, not data. */
	RUN(": data: x\n\n", 0, "E<>{} d=0 @11\n");
}

TEST(meter_sse_feed_field_without_colon)
{
	/* "data" alone is a data line with an empty value. */
	RUN("data\n\n", 0, "E<>{} d=1 @6\n");
	/* Unknown fields (with or without a colon) are ignored. */
	RUN("foo\nid: 7\nretry: 10\ndata: x\n\n", 0, "E<>{x} d=1 @29\n");
	/* "event" alone sets an empty type. */
	RUN("event: a\nevent\ndata: x\n\n", 0, "E<>{x} d=1 @24\n");
	/* Field names are exact: "data " and "Data" are not data. */
	RUN("data : x\nData: y\n\n", 0, "E<>{} d=0 @18\n");
}

TEST(meter_sse_feed_data_without_space)
{
	/* Exactly one space after the colon is dropped, and only one. */
	RUN("data:x\n\n", 1, "L5 E<>{x} d=1 @8\n");
	RUN("data:  x\n\n", 1, "L6 E<>{ x} d=1 @10\n");
	RUN("data:\tx\n\n", 1, "L5 E<>{\tx} d=1 @9\n");
	RUN("data: a:b: c\n\n", 1, "L6 E<>{a:b: c} d=1 @14\n");
	RUN("event:t\ndata:1\n\n", 0, "E<t>{1} d=1 @16\n");
}

TEST(meter_sse_feed_long_event_type_is_cut)
{
	char in[512], want[256];
	char e120[121];

	memset(e120, 'e', 120);
	e120[120] = '\0';
	snprintf(in, sizeof(in), "event: %s\ndata: 1\n\ndata: 2\n\n", e120);
	snprintf(want, sizeof(want), "E<%.*s>{1} d=1 @%zu\nE<>{2} d=1 @%zu\n",
	         METER_SSE_MAX_EVENT_TYPE, e120, (size_t)(7 + 120 + 1 + 8 + 1),
	         (size_t)(7 + 120 + 1 + 8 + 1 + 9));
	RUN(in, 0, want);
}

TEST(meter_sse_feed_long_field_name_ignored)
{
	/* Longer than METER_SSE_MAX_FIELD: never "data", even as prefix. */
	RUN("dataaaaaaaaaaaaaaaaaaaaaaaa: v\n\n", 0, "E<>{} d=0 @32\n");
	RUN("data_padding_to_exceed_16: v\ndata: w\n\n", 0, "E<>{w} d=1 @38\n");
}

TEST(meter_sse_feed_stops_after_each_dispatch)
{
	const char *in = "data: a\n\ndata: b\n\n: c\n\n";
	struct srec r;
	size_t k;

	memset(&r, 0, sizeof(r));
	srec_reset(&r);
	k = meter_sse_feed(r.sse, in, strlen(in));
	CHECK_U64(k, 9);
	CHECK(r.dispatches == 1);
	CHECK_U64(meter_sse_offset(r.sse), 9);
	k = meter_sse_feed(r.sse, in + 9, strlen(in) - 9);
	CHECK_U64(k, 9);
	CHECK(r.dispatches == 2);
	k = meter_sse_feed(r.sse, in + 18, strlen(in) - 18);
	CHECK_U64(k, 5);
	CHECK(r.dispatches == 3);
	CHECK_U64(meter_sse_offset(r.sse), strlen(in));
	CHECK_STR(sb_str(&r.log),
	          "E<>{a} d=1 @9\nE<>{b} d=1 @18\nE<>{} d=0 @23\n");
	/* No event: everything is consumed at once. */
	k = meter_sse_feed(r.sse, "data: partial", 13);
	CHECK_U64(k, 13);
	CHECK(r.dispatches == 3);
	meter_sse_free(r.sse);
	free(r.log.p);
	free(r.data.p);
}

TEST(meter_sse_feed_data_line_offsets)
{
	/* Raw stream offsets of each data value, across events. */
	RUN("event: x\ndata: ab\ndata:cd\n\n: k\ndata: e\n\n", 1,
	    "L15 L23 E<x>{ab\ncd} d=1 @27\n"
	    "L37 E<>{e} d=1 @40\n");
}

TEST(meter_sse_finish_dispatches_last_event)
{
	/* The connection closed one newline early. */
	RUN("data: x\n", 1, "L6 E<>{x} d=1 @8\n");
	RUN("data: x", 1, "L6 E<>{x} d=1 @7\n");
	RUN("data: a\n\ndata: {\"u\":1}", 0,
	    "E<>{a} d=1 @9\nE<>{{\"u\":1}} d=1 @22\n");
	/* Nothing to dispatch: no data line. */
	RUN("event: y\n", 0, "");
	RUN(": c", 0, "");
	RUN("", 0, "");
	/* Already dispatched: finish adds nothing. */
	RUN("data: x\n\n", 0, "E<>{x} d=1 @9\n");
}

TEST(meter_sse_finish_twice_is_harmless)
{
	struct srec r;

	memset(&r, 0, sizeof(r));
	srec_reset(&r);
	srec_feed(&r, "data: x", 7);
	meter_sse_finish(r.sse);
	meter_sse_finish(r.sse);
	CHECK(r.dispatches == 1);
	meter_sse_free(r.sse);
	free(r.log.p);
	free(r.data.p);
}
