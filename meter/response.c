/*
 * meter/response.c — incremental response metering (see response.h).
 *
 * Runs on the proxy worker that owns the connection, once per response.
 * Owns: a JSON scanner, an SSE parser, a zlib stream when the body is
 * compressed, and (rewriting only) the raw bytes of the event in progress.
 *
 * Each JSON document (the body, or one SSE event's data) is scanned into a
 * scratch record that is committed only when the document parses whole, so
 * a torn or malformed event never contributes half a usage object.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "meter/jscan.h"
#include "meter/response.h"
#include "meter/sse.h"

enum mr_kind { MR_PASS, MR_JSON, MR_SSE };
enum mr_action { ACT_KEEP, ACT_DROP, ACT_CUT };

/* What one JSON document said. */
struct mr_doc {
	struct meter_usage u; /* counts valid when usage_obj */
	int usage_obj;        /* a "usage" object was seen */
	int choices_empty;    /* "choices": [] */
	int null_usage;       /* a top-level "usage": null member */
	uint64_t nu_member, nu_sep, nu_end; /* its offsets (document) */
	uint64_t text;                      /* generated text bytes */
	int fed;                            /* any byte was fed */
	uint64_t data_raw; /* SSE: raw offset of the first data line */
	int data_lines;
};

struct meter_response {
	enum mr_kind kind;
	int rewrite; /* strip the injected usage (identity SSE) */
	int level;   /* 1: usage sits under "response" (Responses
	                API stream events), else 0 */
	meter_emit_fn emit;
	void *arg;
	struct meter_jscan *js;
	struct meter_sse *sse;
	int js_bad; /* the current document is malformed */
	struct mr_doc doc;
	struct meter_usage total;
	/* decoding */
	int inflate; /* body is gzip or deflate */
	int z_ready;
	z_stream z;
	uint64_t scanned;
	/* rewriting */
	int event_ready; /* sse dispatched: act on held bytes */
	enum mr_action action;
	uint64_t cut_begin, cut_end; /* raw offsets */
	char *held;
	size_t held_len, held_cap, held_start;
	uint64_t held_base;     /* raw offset of held[0] */
	const char *problem;    /* why usage may be missing (reported) */
	int stopped;            /* the meter gave up reading this body */
	int ended;              /* meter_response_end ran */
	unsigned char zhead[2]; /* first body bytes, to tell zlib from raw */
	size_t zhead_len;
};

static int
media_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return strncasecmp(ct, want, n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

/* Usage paths of chat/completions/embeddings and of the Responses API. */
static const struct {
	const char *path;
	size_t off;
} usage_fields[] = {
    {"usage.prompt_tokens", offsetof(struct meter_usage, input_tokens)},
    {"usage.input_tokens", offsetof(struct meter_usage, input_tokens)},
    {"usage.completion_tokens", offsetof(struct meter_usage, output_tokens)},
    {"usage.output_tokens", offsetof(struct meter_usage, output_tokens)},
    {"usage.prompt_tokens_details.cached_tokens",
     offsetof(struct meter_usage, cached_input_tokens)},
    {"usage.input_tokens_details.cached_tokens",
     offsetof(struct meter_usage, cached_input_tokens)},
    {"usage.completion_tokens_details.reasoning_tokens",
     offsetof(struct meter_usage, reasoning_tokens)},
    {"usage.output_tokens_details.reasoning_tokens",
     offsetof(struct meter_usage, reasoning_tokens)},
    {"usage.prompt_tokens_details.audio_tokens",
     offsetof(struct meter_usage, audio_input_tokens)},
    {"usage.completion_tokens_details.audio_tokens",
     offsetof(struct meter_usage, audio_output_tokens)},
    /* transcriptions: "input_token_details", without the s (§4.1) */
    {"usage.input_token_details.audio_tokens",
     offsetof(struct meter_usage, audio_input_tokens)},
    /* GPT-image models (openai-wire.md §4.4) */
    {"usage.input_tokens_details.image_tokens",
     offsetof(struct meter_usage, image_input_tokens)},
    {"usage.output_tokens_details.image_tokens",
     offsetof(struct meter_usage, image_output_tokens)},
};

static int
key0_is(const struct meter_jscan *js, int level, const char *want)
{
	size_t n = 0;
	const char *k = meter_jscan_key(js, level, &n);

	return k != NULL && n == strlen(want) && memcmp(k, want, n) == 0;
}

/* A JSON number of seconds ("9.4", "12") as ms, rounded half up; -1 for
 * exponents, signs or more than 15 integer digits. */
static int
mr_seconds_ms(const struct meter_jscan_value *v, uint64_t *ms)
{
	uint64_t whole = 0, frac = 0;
	size_t i = 0;
	int fd = 0;

	if (v->kind != METER_JSCAN_NUMBER || v->cut)
		return -1;
	for (; i < v->len && v->text[i] >= '0' && v->text[i] <= '9'; i++) {
		if (i == 15)
			return -1;
		whole = whole * 10 + (uint64_t)(v->text[i] - '0');
	}
	if (i < v->len && v->text[i] == '.')
		for (i++; i < v->len && v->text[i] >= '0' && v->text[i] <= '9';
		     i++, fd++)
			if (fd < 4)
				frac = frac * 10 + (uint64_t)(v->text[i] - '0');
	if (i != v->len || i == 0)
		return -1;
	while (fd < 4)
		frac *= 10, fd++;
	*ms = whole * 1000 + (frac + 5) / 10;
	return 0;
}

static void
mr_usage_value(struct mr_doc *d, const struct meter_jscan *js, int lv,
               const struct meter_jscan_value *v)
{
	size_t i;
	uint64_t n;

	if (v->event == METER_JSCAN_OBJ_BEGIN &&
	    meter_jscan_at_from(js, lv, "usage")) {
		d->u.input_tokens = d->u.cached_input_tokens = 0;
		d->u.output_tokens = d->u.reasoning_tokens = 0;
		d->u.audio_input_tokens = d->u.audio_output_tokens = 0;
		d->u.image_input_tokens = d->u.image_output_tokens = 0;
		d->usage_obj = 1;
		return;
	}
	if (v->event == METER_JSCAN_SCALAR &&
	    meter_jscan_at_from(js, lv, "usage.seconds")) {
		mr_seconds_ms(v, &d->u.audio_ms); /* whisper-1 (§4.1) */
		return;
	}
	if (v->event != METER_JSCAN_SCALAR || meter_jscan_uint(v, &n) == -1)
		return;
	for (i = 0; i < sizeof(usage_fields) / sizeof(usage_fields[0]); i++) {
		if (meter_jscan_at_from(js, lv, usage_fields[i].path)) {
			*(uint64_t *)((char *)&d->u + usage_fields[i].off) = n;
			return;
		}
	}
}

static void
mr_top_value(struct mr_doc *d, const struct meter_jscan *js, int lv,
             const struct meter_jscan_value *v)
{
	if (v->event != METER_JSCAN_SCALAR)
		return;
	if (v->kind == METER_JSCAN_NULL && lv == 0 &&
	    meter_jscan_at(js, "usage")) {
		d->null_usage = 1;
		d->nu_member = v->member_begin;
		d->nu_sep = v->sep;
		d->nu_end = v->end;
	}
	if (v->kind == METER_JSCAN_NUMBER &&
	    meter_jscan_at_from(js, lv, "duration") && d->u.audio_ms == 0)
		mr_seconds_ms(v, &d->u.audio_ms); /* verbose_json (§4.1) */
	if (v->kind != METER_JSCAN_STRING)
		return;
	if (meter_jscan_at_from(js, lv, "model"))
		meter_jscan_copy(d->u.model, sizeof(d->u.model), v);
	else if (meter_jscan_at_from(js, lv, "service_tier"))
		meter_jscan_copy(d->u.service_tier, sizeof(d->u.service_tier),
		                 v);
	else if (meter_jscan_at_from(js, lv, "id"))
		meter_jscan_copy(d->u.response_id, sizeof(d->u.response_id), v);
	else if (meter_jscan_at_from(js, lv, "status"))
		meter_jscan_copy(d->u.status, sizeof(d->u.status), v);
}

/* Generated text, counted only to estimate a stream that was cut off. */
static void
mr_text_value(struct mr_doc *d, const struct meter_jscan *js,
              const struct meter_jscan_value *v)
{
	if (v->event != METER_JSCAN_SCALAR || v->kind != METER_JSCAN_STRING)
		return;
	if (meter_jscan_at(js, "choices.*.delta.content") ||
	    meter_jscan_at(js, "choices.*.message.content") ||
	    meter_jscan_at(js, "choices.*.text") ||
	    meter_jscan_at(js, "delta") ||
	    meter_jscan_at(js, "output.*.content.*.text"))
		d->text += v->full_len;
}

static void
mr_on_value(void *arg, const struct meter_jscan *js,
            const struct meter_jscan_value *v)
{
	struct meter_response *mr = arg;
	struct mr_doc *d = &mr->doc;
	int depth = meter_jscan_depth(js);
	int lv = mr->level;

	if (depth == 0)
		return;
	/* Cheap rejection first: embeddings are millions of numbers. */
	if (key0_is(js, 0, "choices")) {
		if (v->event == METER_JSCAN_ARR_END && depth == 1 &&
		    v->count == 0)
			d->choices_empty = 1;
		mr_text_value(d, js, v);
		return;
	}
	if (key0_is(js, 0, "delta") || key0_is(js, 0, "output")) {
		mr_text_value(d, js, v);
		return;
	}
	if (lv == 1 && !key0_is(js, 0, "response"))
		return;
	if (depth == lv + 1)
		mr_top_value(d, js, lv, v);
	if (key0_is(js, lv, "usage"))
		mr_usage_value(d, js, lv, v);
}

/* A document parsed whole: what it said becomes the response's answer. */
static void
mr_commit(struct meter_response *mr, int whole)
{
	struct mr_doc *d = &mr->doc;
	struct meter_usage *t = &mr->total;

	t->output_text_bytes += d->text;
	if (!whole)
		return;
	if (d->usage_obj) {
		t->input_tokens = d->u.input_tokens;
		t->cached_input_tokens = d->u.cached_input_tokens;
		t->output_tokens = d->u.output_tokens;
		t->reasoning_tokens = d->u.reasoning_tokens;
		t->audio_input_tokens = d->u.audio_input_tokens;
		t->audio_output_tokens = d->u.audio_output_tokens;
		t->image_input_tokens = d->u.image_input_tokens;
		t->image_output_tokens = d->u.image_output_tokens;
		t->has_usage = 1;
	}
	if (d->u.model[0] != '\0')
		memcpy(t->model, d->u.model, sizeof(t->model));
	if (d->u.service_tier[0] != '\0')
		memcpy(t->service_tier, d->u.service_tier,
		       sizeof(t->service_tier));
	if (d->u.response_id[0] != '\0')
		memcpy(t->response_id, d->u.response_id,
		       sizeof(t->response_id));
	if (d->u.status[0] != '\0')
		memcpy(t->status, d->u.status, sizeof(t->status));
	if (d->u.audio_ms != 0)
		t->audio_ms = d->u.audio_ms;
}

static void
mr_doc_reset(struct meter_response *mr)
{
	memset(&mr->doc, 0, sizeof(mr->doc));
	meter_jscan_reset(mr->js);
	mr->js_bad = 0;
}

static void
mr_json_feed(struct meter_response *mr, const char *p, size_t n)
{
	mr->doc.fed = 1;
	if (!mr->js_bad && meter_jscan_feed(mr->js, p, n) == -1)
		mr->js_bad = 1;
}

/* --- SSE ------------------------------------------------------------- */

static void
mr_sse_data_line(void *arg, uint64_t off)
{
	struct meter_response *mr = arg;

	if (mr->doc.data_lines++ == 0)
		mr->doc.data_raw = off;
}

static void
mr_sse_data(void *arg, const char *buf, size_t len)
{
	mr_json_feed(arg, buf, len);
}

/* Decides what the client gets of the event that just ended. */
static void
mr_rewrite_decision(struct meter_response *mr, int whole)
{
	struct mr_doc *d = &mr->doc;

	mr->action = ACT_KEEP;
	if (!mr->rewrite || !whole)
		return;
	if (d->choices_empty && d->usage_obj) {
		mr->action = ACT_DROP; /* the usage-only chunk we asked for */
	} else if (d->null_usage) {
		mr->action = ACT_CUT;
		mr->cut_begin =
		    d->data_raw +
		    (d->nu_sep != UINT64_MAX ? d->nu_sep : d->nu_member);
		mr->cut_end = d->data_raw + d->nu_end;
	}
}

static void
mr_sse_dispatch(void *arg, const char *type, size_t typelen, int has_data,
                uint64_t end)
{
	(void)type; /* every event is scanned; the JSON says what it is */
	(void)typelen;
	(void)end;
	struct meter_response *mr = arg;
	int whole = 0;

	if (has_data && mr->doc.fed && !mr->js_bad)
		whole = meter_jscan_finish(mr->js) == 0;
	mr_commit(mr, whole);
	mr_rewrite_decision(mr, whole);
	mr->event_ready = 1;
	mr_doc_reset(mr);
}

static void
mr_sse_feed_all(struct meter_response *mr, const char *p, size_t n)
{
	while (n > 0) {
		size_t k = meter_sse_feed(mr->sse, p, n);

		p += k;
		n -= k;
	}
	mr->event_ready = 0;
}

/* --- decoding -------------------------------------------------------- */

static void
mr_stop(struct meter_response *mr, const char *why)
{
	mr->stopped = 1;
	mr->problem = why;
}

static void
mr_scan(struct meter_response *mr, const char *p, size_t n)
{
	if (mr->stopped)
		return;
	mr->scanned += n;
	if (mr->scanned > METER_MAX_INFLATED_BYTES) {
		mr_stop(mr, "body larger than the meter reads");
		return;
	}
	if (mr->kind == MR_JSON)
		mr_json_feed(mr, p, n);
	else
		mr_sse_feed_all(mr, p, n);
}

/*
 * HTTP "deflate" should be zlib (RFC 9110 §8.4.1.2) but some servers send
 * bare RFC 1951 data; gzip has its own magic.  The first two bytes tell.
 */
static int
mr_inflate_bits(const unsigned char h[2])
{
	if (h[0] == 0x1f && h[1] == 0x8b)
		return 15 + 16; /* gzip */
	if ((h[0] & 0x0f) == 8 && ((h[0] << 8) | h[1]) % 31 == 0)
		return 15; /* zlib */
	return -15;        /* raw deflate */
}

static void
mr_inflate_run(struct meter_response *mr, const char *p, size_t n)
{
	unsigned char out[METER_INFLATE_WINDOW];

	mr->z.next_in = (unsigned char *)(uintptr_t)p;
	mr->z.avail_in = (uInt)n;
	/* Go on while input remains or the last call filled the window:
	 * zlib may hold output back until asked again. */
	mr->z.avail_out = 0;
	while ((mr->z.avail_in > 0 || mr->z.avail_out == 0) && !mr->stopped) {
		int rc;

		mr->z.next_out = out;
		mr->z.avail_out = sizeof(out);
		rc = inflate(&mr->z, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
			mr_stop(mr, "compressed body is corrupt");
			return;
		}
		mr_scan(mr, (const char *)out, sizeof(out) - mr->z.avail_out);
		if (rc == Z_STREAM_END && mr->z.avail_in > 0)
			inflateReset(&mr->z); /* concatenated gzip members */
		else if (rc == Z_BUF_ERROR)
			break;
	}
}

static void
mr_inflate(struct meter_response *mr, const char *p, size_t n)
{
	if (mr->stopped)
		return;
	if (!mr->z_ready) {
		while (n > 0 && mr->zhead_len < 2) {
			mr->zhead[mr->zhead_len++] = (unsigned char)*p++;
			n--;
		}
		if (mr->zhead_len < 2)
			return;
		memset(&mr->z, 0, sizeof(mr->z));
		if (inflateInit2(&mr->z, mr_inflate_bits(mr->zhead)) != Z_OK) {
			mr_stop(mr, "cannot start zlib");
			return;
		}
		mr->z_ready = 1;
		mr_inflate_run(mr, (const char *)mr->zhead, 2);
	}
	if (n > 0)
		mr_inflate_run(mr, p, n);
}

static void
mr_decode(struct meter_response *mr, const char *p, size_t n)
{
	if (mr->inflate)
		mr_inflate(mr, p, n);
	else
		mr_scan(mr, p, n);
}

/* --- rewriting ------------------------------------------------------- */

static void
mr_emit_event(struct meter_response *mr, size_t end)
{
	const char *ev = mr->held + mr->held_start;
	size_t len = end - mr->held_start;
	uint64_t base = mr->held_base + mr->held_start;

	if (mr->action == ACT_DROP)
		return;
	if (mr->action == ACT_CUT && mr->cut_begin >= base &&
	    mr->cut_end <= base + len && mr->cut_begin < mr->cut_end) {
		size_t a = (size_t)(mr->cut_begin - base);
		size_t b = (size_t)(mr->cut_end - base);

		/* The cut must be exactly `,"usage":null` (or with spaces):
		 * check the bytes, since offsets map one data line only. */
		if (ev[a] == ',' && ev[b - 1] == 'l' &&
		    memmem(ev + a, b - a, "\"usage\"", 7) != NULL) {
			mr->emit(mr->arg, ev, a);
			mr->emit(mr->arg, ev + b, len - b);
			return;
		}
	}
	mr->emit(mr->arg, ev, len);
}

static void
mr_give_up_rewrite(struct meter_response *mr, const char *why)
{
	mr->emit(mr->arg, mr->held + mr->held_start,
	         mr->held_len - mr->held_start);
	mr->held_start = mr->held_len;
	mr->rewrite = 0;
	mr->problem = why;
}

static int
mr_hold(struct meter_response *mr, const char *buf, size_t len)
{
	size_t need = mr->held_len + len;

	if (need - mr->held_start > METER_MAX_SSE_EVENT_BYTES)
		return -1;
	if (need > mr->held_cap) {
		size_t cap = mr->held_cap ? mr->held_cap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		if ((p = realloc(mr->held, cap)) == NULL)
			return -1;
		mr->held = p;
		mr->held_cap = cap;
	}
	memcpy(mr->held + mr->held_len, buf, len);
	mr->held_len += len;
	return 0;
}

static void
mr_rewrite_body(struct meter_response *mr, const char *buf, size_t len)
{
	size_t pos = mr->held_len;

	if (mr_hold(mr, buf, len) == -1) {
		mr_give_up_rewrite(mr, "stream event too large to rewrite");
		mr->emit(mr->arg, buf, len);
		mr_sse_feed_all(mr, buf, len);
		return;
	}
	while (pos < mr->held_len) {
		pos +=
		    meter_sse_feed(mr->sse, mr->held + pos, mr->held_len - pos);
		if (mr->event_ready) {
			mr_emit_event(mr, pos);
			mr->held_start = pos;
			mr->event_ready = 0;
		}
	}
	memmove(mr->held, mr->held + mr->held_start,
	        mr->held_len - mr->held_start);
	mr->held_base += mr->held_start;
	mr->held_len -= mr->held_start;
	mr->held_start = 0;
}

/* --- API ------------------------------------------------------------- */

static int
mr_choose(struct meter_response *mr, const struct meter_response_opts *o)
{
	const char *ce = o->content_encoding;

	mr->kind = MR_PASS;
	/* GET /v1/responses/{id} and /v1/batches/{id}: a background
	 * response's or a batch's usage arrives in the object they return
	 * (openai-wire.md §3.3, §5). */
	if ((!meter_endpoint_metered(o->endpoint) &&
	     o->endpoint != METER_EP_RESPONSE_OBJECT &&
	     o->endpoint != METER_EP_BATCHES &&
	     o->endpoint != METER_EP_IMAGES_GENERATIONS &&
	     o->endpoint != METER_EP_IMAGES_EDITS &&
	     o->endpoint != METER_EP_MODERATIONS &&
	     o->endpoint != METER_EP_AUDIO_SPEECH &&
	     o->endpoint != METER_EP_AUDIO_TRANSCRIPTIONS &&
	     o->endpoint != METER_EP_AUDIO_TRANSLATIONS) ||
	    o->status < 200 || o->status > 299)
		return 0;
	if (ce != NULL &&
	    (strcasecmp(ce, "gzip") == 0 || strcasecmp(ce, "x-gzip") == 0 ||
	     strcasecmp(ce, "deflate") == 0))
		mr->inflate = 1;
	else if (ce != NULL && *ce != '\0' && strcasecmp(ce, "identity") != 0) {
		mr->problem = "content-encoding the meter cannot decode";
		return 0;
	}
	if (media_is(o->content_type, "application/json"))
		mr->kind = MR_JSON;
	else if (media_is(o->content_type, "text/event-stream"))
		mr->kind = MR_SSE;
	else
		mr->problem = "response is neither JSON nor an event stream";
	mr->level =
	    mr->kind == MR_SSE && (o->endpoint == METER_EP_RESPONSES ||
	                           o->endpoint == METER_EP_RESPONSE_OBJECT);
	mr->rewrite = mr->kind == MR_SSE && !mr->inflate && o->strip_usage;
	return 0;
}

struct meter_response *
meter_response_new(const struct meter_response_opts *o, meter_emit_fn emit,
                   void *arg)
{
	static const struct meter_sse_callbacks cbs = {
	    mr_sse_data_line, mr_sse_data, mr_sse_dispatch};
	struct meter_response *mr = calloc(1, sizeof(*mr));

	if (mr == NULL)
		return NULL;
	mr->emit = emit;
	mr->arg = arg;
	mr_choose(mr, o);
	if (mr->kind == MR_PASS)
		return mr;
	if ((mr->js = meter_jscan_new(mr_on_value, mr)) == NULL ||
	    (mr->kind == MR_SSE &&
	     (mr->sse = meter_sse_new(&cbs, mr)) == NULL)) {
		meter_response_free(mr);
		return NULL;
	}
	return mr;
}

void
meter_response_free(struct meter_response *mr)
{
	if (mr == NULL)
		return;
	if (mr->z_ready)
		inflateEnd(&mr->z);
	meter_jscan_free(mr->js);
	meter_sse_free(mr->sse);
	free(mr->held);
	free(mr);
}

int
meter_response_rewrites(const struct meter_response *mr)
{
	return mr->rewrite;
}

void
meter_response_body(struct meter_response *mr, const char *buf, size_t len)
{
	if (len == 0)
		return;
	if (mr->rewrite) {
		mr_rewrite_body(mr, buf, len);
		return;
	}
	mr->emit(mr->arg, buf, len); /* the client first, then the meter */
	if (mr->kind != MR_PASS)
		mr_decode(mr, buf, len);
}

void
meter_response_end(struct meter_response *mr, int complete)
{
	if (mr->ended)
		return;
	mr->ended = 1;
	if (mr->kind == MR_JSON) {
		int whole = complete && mr->doc.fed && !mr->js_bad &&
		            meter_jscan_finish(mr->js) == 0;

		mr_commit(mr, whole);
		if (!whole && mr->problem == NULL)
			mr->problem = complete ? "response JSON is malformed"
			                       : "response cut off";
	} else if (mr->kind == MR_SSE) {
		meter_sse_finish(mr->sse);
		if (mr->rewrite && mr->event_ready)
			mr_emit_event(mr, mr->held_len);
		else if (mr->rewrite)
			mr->emit(mr->arg, mr->held + mr->held_start,
			         mr->held_len - mr->held_start);
		mr->held_start = mr->held_len = 0;
		mr->event_ready = 0;
		if (!complete && mr->problem == NULL)
			mr->problem = "stream cut off";
	}
	mr->rewrite = 0;
}

const struct meter_usage *
meter_response_usage(const struct meter_response *mr)
{
	return &mr->total;
}

const char *
meter_response_problem(const struct meter_response *mr)
{
	return mr->problem;
}
