/*
 * tests/unit/test_meter_jscan.c — meter/jscan.c, the structural JSON scanner.
 *
 * Every vector is fed whole, split at every offset and byte by byte
 * (STYLE.md §23); the callback log (event, path, kind, text, member_begin,
 * sep, begin, end, count) and the result must be the same each time.
 * Covers: offsets for nested objects and arrays, meter_jscan_at / at_from /
 * key, strings with escapes, text that looks like a usage member inside a
 * string, numbers at the root (only finish can end them), malformed input
 * (trailing data, bad literals, unterminated, control characters,
 * mismatched brackets, nesting past METER_JSCAN_MAX_DEPTH) and fixed memory
 * on a 10 MB string and a 200k-element array.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/jscan.h"
#include "tests/unit/harness.h"
#include "tests/unit/sbuf.h"

/* --- a growable log ------------------------------------------------- */

/* --- recording scanner ----------------------------------------------- */

struct rec {
	struct meter_jscan *js;
	struct sbuf log;
	int feed_rc; /* -1 once any feed returned -1 */
	int finish_rc;
	/* the whole-input result, for split runs */
	char *want_log;
	int want_feed_rc, want_finish_rc;
	/* optional path probes */
	const char *probe; /* meter_jscan_at(js, probe) hits are logged */
	int probe_hits;
};

static void
fmt_off(char *out, size_t cap, uint64_t v)
{
	if (v == UINT64_MAX)
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%llu", (unsigned long long)v);
}

static void
log_path(struct sbuf *b, const struct meter_jscan *js)
{
	int d = meter_jscan_depth(js), i;

	if (d == 0) {
		sb_add(b, "$", 1);
		return;
	}
	for (i = 0; i < d; i++) {
		size_t n = 0;
		const char *k = meter_jscan_key(js, i, &n);

		if (i > 0)
			sb_add(b, ".", 1);
		if (k != NULL)
			sb_add(b, k, n);
		else
			sb_add(b, "*", 1);
	}
}

static void
rec_cb(void *arg, const struct meter_jscan *js,
       const struct meter_jscan_value *v)
{
	static const char *const ev[] = {"S", "{", "}", "[", "]"};
	static const char *const kind[] = {"str",   "num",  "true",
	                                   "false", "null", "c"};
	struct rec *r = arg;
	char mb[24], sep[24], b[24], e[24];

	if (r->probe != NULL && meter_jscan_at(js, r->probe))
		r->probe_hits++;
	fmt_off(mb, sizeof(mb), v->member_begin);
	fmt_off(sep, sizeof(sep), v->sep);
	fmt_off(b, sizeof(b), v->begin);
	fmt_off(e, sizeof(e), v->end);
	sb_printf(&r->log, "%s ", ev[v->event]);
	log_path(&r->log, js);
	switch (v->event) {
	case METER_JSCAN_SCALAR:
		sb_printf(&r->log, " %s <", kind[v->kind]);
		sb_add(&r->log, v->text, v->len);
		sb_printf(&r->log, "> mb=%s sep=%s b=%s e=%s\n", mb, sep, b, e);
		break;
	case METER_JSCAN_OBJ_BEGIN:
	case METER_JSCAN_ARR_BEGIN:
		sb_printf(&r->log, " mb=%s sep=%s b=%s e=%s\n", mb, sep, b, e);
		break;
	default:
		sb_printf(&r->log, " sep=%s e=%s n=%llu\n", sep, e,
		          (unsigned long long)v->count);
		break;
	}
}

static void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->js = meter_jscan_new(rec_cb, r);
	if (r->js == NULL)
		abort();
}

static void
rec_done(struct rec *r)
{
	meter_jscan_free(r->js);
	free(r->log.p);
	free(r->want_log);
}

static void
rec_reset(void *arg)
{
	struct rec *r = arg;

	meter_jscan_reset(r->js);
	sb_clear(&r->log);
	r->feed_rc = 0;
	r->finish_rc = 0;
	r->probe_hits = 0;
}

static void
rec_feed(void *arg, const char *p, size_t n)
{
	struct rec *r = arg;

	if (meter_jscan_feed(r->js, p, n) == -1)
		r->feed_rc = -1;
}

static void
rec_check(void *arg, const char *run)
{
	struct rec *r = arg;

	r->finish_rc = meter_jscan_finish(r->js);
	if (strcmp(sb_str(&r->log), r->want_log) != 0 ||
	    r->feed_rc != r->want_feed_rc || r->finish_rc != r->want_finish_rc)
		harness_fail(
		    __FILE__, __LINE__,
		    "%s: log/result differs from the whole-input run:\n"
		    "got (feed %d, finish %d):\n%s\nwant (feed %d, finish "
		    "%d):\n%s",
		    run, r->feed_rc, r->finish_rc, sb_str(&r->log),
		    r->want_feed_rc, r->want_finish_rc, r->want_log);
}

/*
 * Feeds the vector whole, checks the log against want (if not NULL) and
 * the results against the expectations, then checks every split and the
 * byte-by-byte run give the same.  Returns the whole-input finish result.
 */
static int
run_vector(const char *in, size_t len, const char *want, int want_ok,
           const char *probe, int *probe_hits)
{
	struct rec r;
	int ok;

	rec_init(&r);
	r.probe = probe;
	rec_reset(&r);
	rec_feed(&r, in, len);
	r.finish_rc = meter_jscan_finish(r.js);
	ok = r.feed_rc == 0 && r.finish_rc == 0;
	if (want != NULL && strcmp(sb_str(&r.log), want) != 0)
		harness_fail(__FILE__, __LINE__,
		             "whole-input log:\n%s\nwant:\n%s", sb_str(&r.log),
		             want);
	if (ok != want_ok)
		harness_fail(
		    __FILE__, __LINE__,
		    "vector %.60s: expected %s, got feed %d finish %d (%s)", in,
		    want_ok ? "valid" : "malformed", r.feed_rc, r.finish_rc,
		    meter_jscan_error(r.js));
	if (probe_hits != NULL)
		*probe_hits = r.probe_hits;
	r.want_log = strdup(sb_str(&r.log));
	r.want_feed_rc = r.feed_rc;
	r.want_finish_rc = r.finish_rc;
	harness_split_runs(in, len, &r, rec_reset, rec_feed, rec_check);
	if (probe_hits != NULL && r.probe_hits != *probe_hits)
		harness_fail(__FILE__, __LINE__, "probe hits differ");
	rec_done(&r);
	return ok;
}

#define RUN(in, want, ok) run_vector(in, strlen(in), want, ok, NULL, NULL)

/* --- offsets and paths ----------------------------------------------- */

TEST(meter_jscan_feed_nested_offsets)
{
	/*           0123456789012345678901234567890123456 */
	const char *in = "{\"a\":1,\"b\":[true,{\"c\":\"x\"}],\"d\":null}";
	const char *want = "{ $ mb=0 sep=- b=0 e=1\n"
	                   "S a num <1> mb=1 sep=- b=5 e=6\n"
	                   "[ b mb=7 sep=6 b=11 e=12\n"
	                   "S b.* true <true> mb=12 sep=- b=12 e=16\n"
	                   "{ b.* mb=17 sep=16 b=17 e=18\n"
	                   "S b.*.c str <x> mb=18 sep=- b=22 e=25\n"
	                   "} b.* sep=16 e=26 n=1\n"
	                   "] b sep=6 e=27 n=2\n"
	                   "S d null <null> mb=28 sep=27 b=32 e=36\n"
	                   "} $ sep=- e=37 n=3\n";

	RUN(in, want, 1);
}

TEST(meter_jscan_feed_whitespace_offsets)
{
	/* Whitespace between tokens shifts begin/end but not the member. */
	const char *in = " {\n\t\"a\" : [ 1 , 22 ] ,\r\n \"b\":{ } } \n";
	const char *want = "{ $ mb=1 sep=- b=1 e=2\n"
	                   "[ a mb=4 sep=- b=10 e=11\n"
	                   "S a.* num <1> mb=12 sep=- b=12 e=13\n"
	                   "S a.* num <22> mb=16 sep=14 b=16 e=18\n"
	                   "] a sep=- e=20 n=2\n"
	                   "{ b mb=25 sep=21 b=29 e=30\n"
	                   "} b sep=21 e=32 n=0\n"
	                   "} $ sep=- e=34 n=2\n";

	RUN(in, want, 1);
}

TEST(meter_jscan_feed_empty_containers)
{
	RUN("[]", "[ $ mb=0 sep=- b=0 e=1\n] $ sep=- e=2 n=0\n", 1);
	RUN("{}", "{ $ mb=0 sep=- b=0 e=1\n} $ sep=- e=2 n=0\n", 1);
	RUN("[[],{}]",
	    "[ $ mb=0 sep=- b=0 e=1\n"
	    "[ * mb=1 sep=- b=1 e=2\n"
	    "] * sep=- e=3 n=0\n"
	    "{ * mb=4 sep=3 b=4 e=5\n"
	    "} * sep=3 e=6 n=0\n"
	    "] $ sep=- e=7 n=2\n",
	    1);
}

TEST(meter_jscan_feed_string_escapes)
{
	/* Raw bytes between the quotes, escapes left as written. */
	const char *in = "{\"k\\\"ey\":\"a\\\\b\\\"c\\u00e9\",\"n\":-1.5e+3}";
	const char *want =
	    "{ $ mb=0 sep=- b=0 e=1\n"
	    "S k\\\"ey str <a\\\\b\\\"c\\u00e9> mb=1 sep=- b=9 e=24\n"
	    "S n num <-1.5e+3> mb=25 sep=24 b=29 e=36\n"
	    "} $ sep=- e=37 n=2\n";

	RUN(in, want, 1);
	/* Every escape JSON allows, and UTF-8 passes through. */
	RUN("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\uFfFf\",\"\xc3\xa9\"]", NULL,
	    1);
}

TEST(meter_jscan_feed_usage_inside_string_is_text)
{
	/* The assistant quoting a usage object: one string, no members. */
	const char *in = "{\"content\":\"x \\\"usage\\\":{\\\"prompt_tokens"
	                 "\\\":999} y\",\"n\":[\"\\\"usage\\\":{\"]}";
	int hits = -1;

	run_vector(in, strlen(in), NULL, 1, "usage.prompt_tokens", &hits);
	CHECK(hits == 0);
	run_vector(in, strlen(in), NULL, 1, "usage", &hits);
	CHECK(hits == 0);
	/* ... and the real one is found. */
	in = "{\"content\":\"\\\"usage\\\":{\\\"prompt_tokens\\\":999}\","
	     "\"usage\":{\"prompt_tokens\":12}}";
	run_vector(in, strlen(in), NULL, 1, "usage.prompt_tokens", &hits);
	CHECK(hits == 1);
}

TEST(meter_jscan_feed_numbers_at_root)
{
	/* A root number has no terminator: finish emits it. */
	RUN("42", "S $ num <42> mb=0 sep=- b=0 e=2\n", 1);
	RUN("-0.5e-7", "S $ num <-0.5e-7> mb=0 sep=- b=0 e=7\n", 1);
	RUN(" 7 \n", "S $ num <7> mb=1 sep=- b=1 e=2\n", 1);
	RUN("true", "S $ true <true> mb=0 sep=- b=0 e=4\n", 1);
	RUN("\"s\"", "S $ str <s> mb=0 sep=- b=0 e=3\n", 1);
}

TEST(meter_jscan_feed_number_event_before_finish)
{
	struct rec r;

	rec_init(&r);
	rec_reset(&r);
	CHECK(meter_jscan_feed(r.js, "123", 3) == 0);
	CHECK(r.log.len == 0); /* might go on: "1234" */
	CHECK(meter_jscan_finish(r.js) == 0);
	CHECK_STR(sb_str(&r.log), "S $ num <123> mb=0 sep=- b=0 e=3\n");
	rec_done(&r);
}

/* --- at / at_from / key ---------------------------------------------- */

struct probe {
	int model, usage_pt, choices_content, star_any, root, from1,
	    deep_key_ok, resp_usage;
};

static void
probe_cb(void *arg, const struct meter_jscan *js,
         const struct meter_jscan_value *v)
{
	struct probe *p = arg;
	size_t n = 0;
	const char *k;

	if (v->event != METER_JSCAN_SCALAR) {
		if (meter_jscan_at(js, "") && v->event == METER_JSCAN_OBJ_BEGIN)
			p->root++;
		return;
	}
	if (meter_jscan_at(js, "model"))
		p->model++;
	if (meter_jscan_at(js, "usage.prompt_tokens"))
		p->usage_pt++;
	if (meter_jscan_at(js, "choices.*.delta.content")) {
		p->choices_content++;
		k = meter_jscan_key(js, 0, &n);
		CHECK(k != NULL && n == 7 && memcmp(k, "choices", 7) == 0);
		CHECK(meter_jscan_key(js, 1, &n) == NULL); /* array level */
		k = meter_jscan_key(js, 3, &n);
		CHECK(k != NULL && n == 7 && memcmp(k, "content", 7) == 0);
		CHECK(meter_jscan_key(js, 4, &n) == NULL); /* past depth */
		CHECK(meter_jscan_key(js, -1, &n) == NULL);
	}
	if (meter_jscan_at(js, "*.*.*.*"))
		p->star_any++;
	/* Under one wrapper key: level 1 on. */
	if (meter_jscan_at_from(js, 1, "usage.input_tokens"))
		p->from1++;
	if (meter_jscan_at(js, "response.usage.input_tokens"))
		p->resp_usage++;
}

TEST(meter_jscan_at_paths)
{
	const char *in =
	    "{\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"a\"}},"
	    "{\"delta\":{\"content\":\"b\",\"x\":1}}],"
	    "\"usage\":{\"prompt_tokens\":3,\"model\":\"no\"},"
	    "\"response\":{\"usage\":{\"input_tokens\":5}}}";
	struct probe p;
	struct meter_jscan *js;

	memset(&p, 0, sizeof(p));
	js = meter_jscan_new(probe_cb, &p);
	CHECK(meter_jscan_feed(js, in, strlen(in)) == 0);
	CHECK(meter_jscan_finish(js) == 0);
	CHECK(p.model == 1); /* not usage.model */
	CHECK(p.usage_pt == 1);
	CHECK(p.choices_content == 2);
	CHECK(p.star_any == 3); /* content, content, x */
	CHECK(p.root == 1);
	CHECK(p.from1 == 1);
	CHECK(p.resp_usage == 1);
	meter_jscan_free(js);
}

struct deep {
	int hits_short, hits_deep, key_null, depth_seen;
};

static void
deep_cb(void *arg, const struct meter_jscan *js,
        const struct meter_jscan_value *v)
{
	struct deep *d = arg;
	size_t n;

	if (v->event != METER_JSCAN_SCALAR)
		return;
	d->depth_seen = meter_jscan_depth(js);
	if (meter_jscan_at(js, "a.a.a.a.a.a.a.a.a.a"))
		d->hits_deep++;
	if (meter_jscan_at(js, "a"))
		d->hits_short++;
	if (meter_jscan_key(js, METER_JSCAN_TRACK_DEPTH, &n) == NULL)
		d->key_null++;
}

TEST(meter_jscan_at_untracked_depth_never_matches)
{
	/* 10 levels of {"a": ...}: past METER_JSCAN_TRACK_DEPTH keys are
	 * not kept, so nothing there matches (rather than matching wrongly). */
	char in[256] = "";
	struct deep d;
	struct meter_jscan *js;
	int i;

	for (i = 0; i < 10; i++)
		strcat(in, "{\"a\":");
	strcat(in, "1");
	for (i = 0; i < 10; i++)
		strcat(in, "}");
	memset(&d, 0, sizeof(d));
	js = meter_jscan_new(deep_cb, &d);
	CHECK(meter_jscan_feed(js, in, strlen(in)) == 0);
	CHECK(meter_jscan_finish(js) == 0);
	CHECK(d.depth_seen == 10);
	CHECK(d.hits_deep == 0);
	CHECK(d.hits_short == 0);
	CHECK(d.key_null == 1);
	meter_jscan_free(js);
	run_vector(in, strlen(in), NULL, 1, NULL, NULL);
}

struct longkey {
	int kept, cut;
};

static void
longkey_cb(void *arg, const struct meter_jscan *js,
           const struct meter_jscan_value *v)
{
	struct longkey *l = arg;
	size_t n = 0;

	if (v->event != METER_JSCAN_SCALAR)
		return;
	if (meter_jscan_key(js, 0, &n) != NULL && n == METER_JSCAN_MAX_KEY)
		l->kept++;
	if (meter_jscan_key(js, 0, &n) == NULL)
		l->cut++;
}

TEST(meter_jscan_key_too_long)
{
	char in[256];
	char k40[METER_JSCAN_MAX_KEY + 1], k41[METER_JSCAN_MAX_KEY + 2];
	struct longkey l;
	struct meter_jscan *js;

	memset(k40, 'k', METER_JSCAN_MAX_KEY);
	k40[METER_JSCAN_MAX_KEY] = '\0';
	memset(k41, 'k', METER_JSCAN_MAX_KEY + 1);
	k41[METER_JSCAN_MAX_KEY + 1] = '\0';
	snprintf(in, sizeof(in), "{\"%s\":1,\"%s\":2}", k40, k41);
	memset(&l, 0, sizeof(l));
	js = meter_jscan_new(longkey_cb, &l);
	CHECK(meter_jscan_feed(js, in, strlen(in)) == 0);
	CHECK(meter_jscan_finish(js) == 0);
	CHECK(l.kept == 1);
	CHECK(l.cut == 1);
	meter_jscan_free(js);
	run_vector(in, strlen(in), NULL, 1, NULL, NULL);
}

/* --- scalars ---------------------------------------------------------- */

struct scal {
	struct meter_jscan_value last;
	char text[METER_JSCAN_MAX_SCALAR + 1];
	int n;
};

static void
scal_cb(void *arg, const struct meter_jscan *js,
        const struct meter_jscan_value *v)
{
	struct scal *s = arg;

	(void)js;
	if (v->event != METER_JSCAN_SCALAR)
		return;
	s->last = *v;
	memcpy(s->text, v->text, v->len);
	s->text[v->len] = '\0';
	s->last.text = s->text;
	s->n++;
}

TEST(meter_jscan_uint_values)
{
	static const struct {
		const char *json;
		int rc;
		uint64_t v;
	} cases[] = {
	    {"[0]", 0, 0},
	    {"[1200]", 0, 1200},
	    {"[10000000000000000000]", 0, 10000000000000000000ULL},
	    {"[18446744073709551616]", -1, 0},
	    {"[-1]", -1, 0},
	    {"[1.5]", -1, 0},
	    {"[1e3]", -1, 0},
	    {"[\"12\"]", -1, 0},
	    {"[true]", -1, 0},
	    {"[null]", -1, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct scal s;
		struct meter_jscan *js;
		uint64_t out = 77;

		memset(&s, 0, sizeof(s));
		js = meter_jscan_new(scal_cb, &s);
		CHECK(meter_jscan_feed(js, cases[i].json,
		                       strlen(cases[i].json)) == 0);
		CHECK(meter_jscan_finish(js) == 0);
		CHECK(s.n == 1);
		if (meter_jscan_uint(&s.last, &out) != cases[i].rc)
			harness_fail(__FILE__, __LINE__, "uint(%s) rc",
			             cases[i].json);
		else if (cases[i].rc == 0)
			CHECK_U64(out, cases[i].v);
		else
			CHECK_U64(out, 77); /* untouched on failure */
		meter_jscan_free(js);
	}
}

TEST(meter_jscan_feed_long_scalar_is_cut)
{
	char in[600];
	struct scal s;
	struct meter_jscan *js;

	in[0] = '[';
	in[1] = '"';
	memset(in + 2, 'x', 500);
	memcpy(in + 502, "\"]", 3);
	memset(&s, 0, sizeof(s));
	js = meter_jscan_new(scal_cb, &s);
	CHECK(meter_jscan_feed(js, in, strlen(in)) == 0);
	CHECK(meter_jscan_finish(js) == 0);
	CHECK(s.n == 1);
	CHECK(s.last.cut == 1);
	CHECK_U64(s.last.len, METER_JSCAN_MAX_SCALAR);
	CHECK_U64(s.last.full_len, 500);
	CHECK_U64(s.last.begin, 1);
	CHECK_U64(s.last.end, 503);
	meter_jscan_free(js);
	run_vector(in, strlen(in), NULL, 1, NULL, NULL);
}

/* --- malformed ------------------------------------------------------- */

TEST(meter_jscan_feed_malformed)
{
	static const char *const bad[] = {
	    "", /* nothing */
	    "   ",
	    "{\"a\":1} x", /* trailing garbage */
	    "{\"a\":1}}",
	    "1 2", /* two roots */
	    "{}{}",
	    "{\"a\":tru}", /* bad literals */
	    "[nul]",
	    "[falsy]",
	    "[trueX]",
	    "[True]",
	    "{\"a\":\"abc", /* unterminated */
	    "{\"a\":\"abc\"",
	    "[1,2",
	    "{\"a\"",
	    "{\"a\":",
	    "\"\\u00",
	    "[\"a\x01b\"]", /* control characters in strings */
	    "[\"a\nb\"]",
	    "{\"k\tk\":1}",
	    "[1,2}", /* mismatched brackets */
	    "{\"a\":1]",
	    "]",
	    "}",
	    "[1,]", /* other grammar errors */
	    "{\"a\":1,}",
	    "{,}",
	    "{\"a\" 1}",
	    "{a:1}",
	    "{\"a\"::1}",
	    "[1 2]",
	    "[\"\\x\"]", /* bad escapes */
	    "[\"\\u12g4\"]",
	    "['a']",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		run_vector(bad[i], strlen(bad[i]), NULL, 0, NULL, NULL);
}

TEST(meter_jscan_feed_malformed_numbers)
{
	/*
	 * Not JSON numbers (RFC 8259 §6): the contract says -1 once the input
	 * is not well formed.  Regression: js_number_byte once took any run
	 * of [0-9.eE+-], so meter_request_inspect called {"max_tokens":1-2}
	 * a JSON object.
	 */
	static const char *const bad[] = {
	    "[-]",  "[1.2.3]", "[01]", "[1-2]", "[1e]",
	    "[.5]", "[+1]",    "[1.]", "[--1]",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		run_vector(bad[i], strlen(bad[i]), NULL, 0, NULL, NULL);
}

TEST(meter_jscan_feed_error_is_sticky)
{
	struct meter_jscan *js = meter_jscan_new(NULL, NULL);
	const char *e;

	CHECK(meter_jscan_feed(js, "[1,]", 4) == -1);
	e = meter_jscan_error(js);
	CHECK(e != NULL && strcmp(e, "no error") != 0);
	CHECK(meter_jscan_feed(js, "1]", 2) == -1);
	CHECK(meter_jscan_finish(js) == -1);
	CHECK_U64(meter_jscan_offset(js), 3); /* where it went wrong */
	meter_jscan_reset(js);
	CHECK(meter_jscan_feed(js, "[1]", 3) == 0);
	CHECK(meter_jscan_finish(js) == 0);
	meter_jscan_free(js);
}

TEST(meter_jscan_feed_depth_limit)
{
	size_t n = METER_JSCAN_MAX_DEPTH;
	char *in = malloc(2 * n + 4);

	/* Exactly the limit is fine ... */
	memset(in, '[', n);
	memset(in + n, ']', n);
	run_vector(in, 2 * n, NULL, 1, NULL, NULL);
	/* ... one more level is malformed. */
	memset(in, '[', n + 1);
	memset(in + n + 1, ']', n + 1);
	run_vector(in, 2 * n + 2, NULL, 0, NULL, NULL);
	/* Same with objects. */
	{
		size_t i, len = 0;
		char *o = malloc(6 * (n + 1) + 8);

		for (i = 0; i < n + 1; i++) {
			memcpy(o + len, "{\"a\":", 5);
			len += 5;
		}
		o[len++] = '1';
		memset(o + len, '}', n + 1);
		len += n + 1;
		run_vector(o, len, NULL, 0, NULL, NULL);
		free(o);
	}
	free(in);
}

/* --- bounded memory --------------------------------------------------- */

struct big {
	uint64_t full_len, count, scalars;
	size_t len;
	int cut;
};

static void
big_cb(void *arg, const struct meter_jscan *js,
       const struct meter_jscan_value *v)
{
	struct big *b = arg;

	(void)js;
	if (v->event == METER_JSCAN_SCALAR) {
		b->scalars++;
		b->full_len = v->full_len;
		b->len = v->len;
		b->cut = v->cut;
	} else if (v->event == METER_JSCAN_ARR_END) {
		b->count = v->count;
	}
}

TEST(meter_jscan_feed_10mb_string)
{
	size_t n = 10u << 20, i;
	char piece[4096];
	struct big b;
	struct meter_jscan *js;
	int rc = 0;

	memset(&b, 0, sizeof(b));
	memset(piece, 'a', sizeof(piece));
	js = meter_jscan_new(big_cb, &b);
	rc |= meter_jscan_feed(js, "{\"s\":\"", 6);
	for (i = 0; i < n; i += sizeof(piece))
		rc |= meter_jscan_feed(js, piece, sizeof(piece));
	rc |= meter_jscan_feed(js, "\"}", 2);
	CHECK(rc == 0);
	CHECK(meter_jscan_finish(js) == 0);
	CHECK_U64(b.full_len, n);
	CHECK_U64(b.len, METER_JSCAN_MAX_SCALAR);
	CHECK(b.cut == 1);
	CHECK_U64(meter_jscan_offset(js), n + 8);
	meter_jscan_free(js);
}

TEST(meter_jscan_feed_200k_number_array)
{
	struct big b;
	struct meter_jscan *js;
	char num[32];
	int i, rc = 0;

	memset(&b, 0, sizeof(b));
	js = meter_jscan_new(big_cb, &b);
	rc |= meter_jscan_feed(js, "{\"embedding\":[", 14);
	for (i = 0; i < 200000; i++) {
		int k =
		    snprintf(num, sizeof(num), "%s-0.%06d", i ? "," : "", i);

		rc |= meter_jscan_feed(js, num, (size_t)k);
	}
	rc |= meter_jscan_feed(js, "]}", 2);
	CHECK(rc == 0);
	CHECK(meter_jscan_finish(js) == 0);
	CHECK_U64(b.scalars, 200000);
	CHECK_U64(b.count, 200000);
	meter_jscan_free(js);
}
