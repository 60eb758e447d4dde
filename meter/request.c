/*
 * meter/request.c — request body inspection and usage injection.
 *
 * Runs on a proxy worker once a request body is fully buffered (bounded by
 * max_request_body).  One pass of meter/jscan; no allocation but the scanner
 * and, for injection, the rewritten body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/jscan.h"
#include "meter/request.h"

struct rq_scan {
	struct meter_request *rq;
	const char *body; /* the whole body (offsets index it) */
	int escaped_key;  /* a top-level member name used an escape */
	int root_is_object;
	int saw_safety_id;
	uint64_t hash; /* FNV-1a over the token stream */
};

#define RQ_FNV_OFFSET 0xcbf29ce484222325ULL
#define RQ_FNV_PRIME 0x100000001b3ULL

static void
rq_hash(struct rq_scan *s, const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = s->hash;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ b[i]) * RQ_FNV_PRIME;
	s->hash = h;
}

/*
 * Duplicate-call detection hashes what the body says, not how it is laid
 * out: each event, its member name and a scalar's bytes as written, so
 * whitespace between tokens does not change the hash (member order does).
 */
static void
rq_hash_value(struct rq_scan *s, const struct meter_jscan *js,
              const struct meter_jscan_value *v)
{
	int d = meter_jscan_depth(js);
	unsigned char ev = (unsigned char)v->event;
	size_t kn = 0;
	const char *k;

	rq_hash(s, &ev, 1);
	if (v->event == METER_JSCAN_OBJ_END || v->event == METER_JSCAN_ARR_END)
		return;
	if (d >= 1 && (k = meter_jscan_key(js, d - 1, &kn)) != NULL) {
		rq_hash(s, k, kn);
		rq_hash(s, ":", 1);
	}
	if (v->event == METER_JSCAN_SCALAR)
		rq_hash(s, s->body + v->begin, (size_t)(v->end - v->begin));
}

static int
key_is(const char *k, size_t n, const char *want)
{
	return k != NULL && strlen(want) == n && memcmp(k, want, n) == 0;
}

/* Keys under which prompt text lives, and keys whose strings are payloads
 * (base64 images, audio, file data) rather than text the model tokenises
 * as words. */
static int
is_prompt_root(const char *k, size_t n)
{
	static const char *const roots[] = {"messages",     "input",  "prompt",
	                                    "instructions", "system", "tools",
	                                    "functions",    NULL};
	int i;

	for (i = 0; roots[i] != NULL; i++)
		if (key_is(k, n, roots[i]))
			return 1;
	return 0;
}

static int
is_payload_key(const char *k, size_t n)
{
	return key_is(k, n, "url") || key_is(k, n, "image_url") ||
	       key_is(k, n, "file_data") || key_is(k, n, "data") ||
	       key_is(k, n, "b64_json");
}

static void
rq_count_text(struct rq_scan *s, const struct meter_jscan *js,
              const struct meter_jscan_value *v)
{
	int d = meter_jscan_depth(js);
	size_t n0 = 0, nl = 0;
	const char *k0 = meter_jscan_key(js, 0, &n0);
	const char *kl = meter_jscan_key(js, d - 1, &nl);

	if (d < 1 || !is_prompt_root(k0, n0))
		return;
	if (v->kind == METER_JSCAN_STRING) {
		if (d > 1 && is_payload_key(kl, nl))
			return;
		s->rq->input_text_bytes += v->full_len;
	} else if (v->kind == METER_JSCAN_NUMBER && d >= 2 &&
	           (key_is(k0, n0, "input") || key_is(k0, n0, "prompt"))) {
		s->rq->input_token_items++; /* prompt given as token ids */
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The \\uXXXX at p (6 bytes available) as a number, or -1. */
static long
rq_u_escape(const char *p)
{
	long u = 0;
	int i, h;

	if (p[0] != '\\' || p[1] != 'u')
		return -1;
	for (i = 2; i < 6; i++) {
		if ((h = hexval(p[i])) == -1)
			return -1;
		u = u * 16 + h;
	}
	return u;
}

/*
 * Characters (Unicode code points) of a JSON string literal's raw text
 * (between the quotes, escapes as written; the scanner validated it):
 * what tts-1 bills by (openai-wire.md §4.3).  An escaped surrogate pair
 * is one character.
 */
static uint64_t
rq_json_chars(const char *p, size_t n)
{
	uint64_t chars = 0;
	size_t i = 0;

	while (i < n) {
		long hi;

		if (p[i] != '\\') {
			if (((unsigned char)p[i] & 0xC0) != 0x80)
				chars++;
			i++;
			continue;
		}
		chars++;
		if (i + 6 <= n && (hi = rq_u_escape(p + i)) >= 0xD800 &&
		    hi <= 0xDBFF && i + 12 <= n &&
		    rq_u_escape(p + i + 6) >= 0xDC00 &&
		    rq_u_escape(p + i + 6) <= 0xDFFF)
			i += 12;
		else
			i += p[i + 1 < n ? i + 1 : i] == 'u' ? 6 : 2;
	}
	return chars;
}

static void
rq_top_scalar(struct rq_scan *s, const struct meter_jscan *js,
              const struct meter_jscan_value *v)
{
	struct meter_request *rq = s->rq;
	uint64_t u;

	if (meter_jscan_at(js, "input") && v->kind == METER_JSCAN_STRING &&
	    rq->endpoint == METER_EP_AUDIO_SPEECH && v->end >= v->begin + 2) {
		rq->input_chars = rq_json_chars(s->body + v->begin + 1,
		                                v->end - v->begin - 2);
	} else if (meter_jscan_at(js, "size") &&
	           v->kind == METER_JSCAN_STRING) {
		meter_jscan_copy(rq->size, sizeof(rq->size), v);
	} else if (meter_jscan_at(js, "quality") &&
	           v->kind == METER_JSCAN_STRING) {
		meter_jscan_copy(rq->quality, sizeof(rq->quality), v);
	} else if (meter_jscan_at(js, "model") &&
	           v->kind == METER_JSCAN_STRING) {
		meter_jscan_copy(rq->model, sizeof(rq->model), v);
	} else if (meter_jscan_at(js, "stream")) {
		rq->stream = v->kind == METER_JSCAN_TRUE;
	} else if (meter_jscan_at(js, "background")) {
		rq->background = v->kind == METER_JSCAN_TRUE;
	} else if (meter_jscan_at(js, "max_tokens") ||
	           meter_jscan_at(js, "max_completion_tokens") ||
	           meter_jscan_at(js, "max_output_tokens")) {
		if (meter_jscan_uint(v, &u) == 0)
			rq->max_output_tokens = u;
	} else if (meter_jscan_at(js, "n")) {
		if (meter_jscan_uint(v, &u) == 0 && u > 0)
			rq->n = u;
	} else if (meter_jscan_at(js, "safety_identifier") &&
	           v->kind == METER_JSCAN_STRING) {
		meter_jscan_copy(rq->end_user, sizeof(rq->end_user), v);
		s->saw_safety_id = 1;
	} else if (meter_jscan_at(js, "user") &&
	           v->kind == METER_JSCAN_STRING && !s->saw_safety_id) {
		meter_jscan_copy(rq->end_user, sizeof(rq->end_user), v);
	}
}

static void
rq_span(struct meter_span *sp, const struct meter_jscan_value *v)
{
	sp->present = 1;
	sp->kind = (int)v->kind;
	sp->begin = v->begin;
	sp->end = v->end;
}

static void
rq_on_value(void *arg, const struct meter_jscan *js,
            const struct meter_jscan_value *v)
{
	struct rq_scan *s = arg;
	struct meter_request *rq = s->rq;
	int d = meter_jscan_depth(js);

	rq_hash_value(s, js, v);
	if (d >= 1 && meter_jscan_key_escaped(js, 0))
		s->escaped_key = 1;
	if (d == 0) {
		if (v->event == METER_JSCAN_OBJ_BEGIN)
			s->root_is_object = 1;
		else if (v->event == METER_JSCAN_OBJ_END) {
			rq->root_end = v->end - 1;
			rq->root_members = v->count;
		}
		return;
	}
	if (meter_jscan_at(js, "stream_options")) {
		if (v->event == METER_JSCAN_OBJ_BEGIN) {
			rq_span(&rq->stream_options, v);
			memset(&rq->include_usage_value, 0,
			       sizeof(rq->include_usage_value));
			rq->include_usage = -1;
		} else if (v->event == METER_JSCAN_OBJ_END) {
			rq->stream_options.end = v->end;
			rq->stream_options.count = v->count;
		} else if (v->event == METER_JSCAN_SCALAR) {
			rq_span(&rq->stream_options, v);
			rq->include_usage = -1;
		}
		return;
	}
	if (v->event != METER_JSCAN_SCALAR)
		return;
	if (d == 1)
		rq_top_scalar(s, js, v);
	else if (meter_jscan_at(js, "stream_options.include_usage")) {
		rq_span(&rq->include_usage_value, v);
		rq->include_usage = v->kind == METER_JSCAN_TRUE ? 1 : 0;
	}
	rq_count_text(s, js, v);
}

int
meter_request_inspect(enum meter_endpoint ep, const char *body, size_t len,
                      struct meter_request *out, const char **errstr,
                      uint64_t *erroff)
{
	struct rq_scan s;
	struct meter_jscan *js = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->endpoint = ep;
	out->include_usage = -1;
	out->n = 1;
	if (len == 0)
		return 0;
	memset(&s, 0, sizeof(s));
	s.rq = out;
	s.body = body;
	s.hash = RQ_FNV_OFFSET;
	if ((js = meter_jscan_new(rq_on_value, &s)) == NULL) {
		*errstr = "out of memory";
		*erroff = 0;
		goto out;
	}
	if (meter_jscan_feed(js, body, len) == -1 ||
	    meter_jscan_finish(js) == -1) {
		*errstr = meter_jscan_error(js);
		*erroff = meter_jscan_offset(js);
		goto out;
	}
	if (!s.root_is_object) {
		*errstr = "the body must be a JSON object";
		*erroff = 0;
		goto out;
	}
	/* OpenAI's parameter names are plain ASCII; an escaped one could
	 * hide "model" or "stream" from the meter but not from the API. */
	if (s.escaped_key) {
		*errstr = "escaped characters in a top-level member name";
		*erroff = 0;
		goto out;
	}
	out->is_json = 1;
	out->body_hash = s.hash;
	rc = 0;
out:
	meter_jscan_free(js);
	return rc;
}

int
meter_request_needs_usage_injection(const struct meter_request *rq)
{
	return rq->is_json && rq->stream && rq->include_usage != 1 &&
	       (rq->endpoint == METER_EP_CHAT ||
	        rq->endpoint == METER_EP_COMPLETIONS);
}

/* out = body[0,at) + ins + body[skip_to, len) */
static int
splice(const char *body, size_t len, uint64_t at, uint64_t skip_to,
       const char *ins, char **out, size_t *outlen)
{
	size_t n = strlen(ins);
	size_t total = (size_t)at + n + (len - (size_t)skip_to);
	char *p = malloc(total + 1);

	if (p == NULL)
		return -1;
	memcpy(p, body, (size_t)at);
	memcpy(p + at, ins, n);
	memcpy(p + at + n, body + skip_to, len - (size_t)skip_to);
	p[total] = '\0';
	*out = p;
	*outlen = total;
	return 0;
}

int
meter_request_inject_usage(const struct meter_request *rq, const char *body,
                           size_t len, char **out, size_t *outlen)
{
	const struct meter_span *so = &rq->stream_options;
	const struct meter_span *iu = &rq->include_usage_value;
	if (iu->present) /* "include_usage": false (or junk) -> true */
		return splice(body, len, iu->begin, iu->end, "true", out,
		              outlen);
	if (so->present && so->kind == METER_JSCAN_CONTAINER)
		return splice(body, len, so->begin + 1, so->begin + 1,
		              so->count > 0 ? "\"include_usage\":true,"
		                            : "\"include_usage\":true",
		              out, outlen);
	if (so->present) /* null or another scalar */
		return splice(body, len, so->begin, so->end,
		              "{\"include_usage\":true}", out, outlen);
	return splice(body, len, rq->root_end, rq->root_end,
	              rq->root_members == 0
	                  ? "\"stream_options\":{\"include_usage\":true}"
	                  : ",\"stream_options\":{\"include_usage\":true}",
	              out, outlen);
}

uint64_t
meter_request_estimate_input(const struct meter_request *rq)
{
	/* ~4 bytes of English per token, plus token-id prompts as given. */
	uint64_t t = (rq->input_text_bytes + 3) / 4 + rq->input_token_items;

	return t > 0 ? t : 1;
}

const char *
meter_request_image_model(const struct meter_request *rq)
{
	/* OpenAI's default for /v1/images/generations (openai-wire.md §4.4) */
	return rq->model[0] != '\0' ? rq->model : "dall-e-2";
}

void
meter_request_image_variant(const struct meter_request *rq, char *buf,
                            size_t cap)
{
	const char *size = rq->size[0] != '\0' ? rq->size : "1024x1024";

	/* dall-e-3 prices "hd" apart; "standard" (the default) is the plain
	 * size, as are dall-e-2's, which have no quality. */
	if (strcmp(rq->quality, "hd") == 0)
		snprintf(buf, cap, "hd/%s", size);
	else
		snprintf(buf, cap, "%s", size);
}
