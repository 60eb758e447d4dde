/*
 * tests/unit/test_meter_response.c — meter/response.c, reading usage out of
 * a response body as it streams past, and stripping injected usage.
 *
 * Every vector goes through meter_response_new/body/end whole, split at
 * every offset and byte by byte (STYLE.md §23); the emitted bytes and the
 * usage must be the same each time.  Covers: chat JSON (cached, reasoning,
 * audio tokens), the trap (assistant text quoting a usage object and
 * `data: [DONE]`), a chat stream with include_usage stripped (strip_usage=1:
 * no usage-only chunk, no `,"usage":null`; built by hand from
 * shared/reference/openai-wire.md §1.3) or passed unchanged (strip_usage=0),
 * CRLF streams, Responses API streams (named events, usage in
 * response.completed or .incomplete, with and without `data: [DONE]`),
 * embeddings, gzip / zlib / raw deflate bodies made here with zlib, a stream
 * or body cut off (end(mr, 0)), non-2xx statuses, an event too large to
 * rewrite.  The model reported is the response's dated snapshot.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "meter/response.h"
#include "tests/unit/harness.h"
#include "tests/unit/sbuf.h"

/* --- vectors ---------------------------------------------------------- */

/* Chat completion with every usage detail (wire §1.1). */
static const char chat_json[] =
    "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion\","
    "\"created\":1741570283,\"model\":\"gpt-4o-2024-08-06\","
    "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_x\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Hi\",\"refusal\":null,\"annotations\":[]},"
    "\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":350,"
    "\"total_tokens\":1550,\"prompt_tokens_details\":{\"cached_tokens\":1024,"
    "\"audio_tokens\":16},\"completion_tokens_details\":"
    "{\"reasoning_tokens\":128,\"audio_tokens\":32,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}";

/* The assistant quotes a usage object and an SSE terminator. */
#define TRAP_TEXT                                                              \
	"Sure: \\\"usage\\\":{\\\"prompt_tokens\\\":999,"                      \
	"\\\"completion_tokens\\\":999}\\n\\ndata: [DONE]\\n\\n"

static const char trap_json[] =
    "{\"id\":\"chatcmpl-t\",\"object\":\"chat.completion\",\"created\":1,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"" TRAP_TEXT "\"},"
    "\"finish_reason\":\"stop\"}],"
    "\"metadata\":{\"usage\":{\"prompt_tokens\":998}},"
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,"
    "\"total_tokens\":15}}";

/* Usage first, then the trap. */
static const char trap_json_usage_first[] =
    "{\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,"
    "\"total_tokens\":15},\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"" TRAP_TEXT "\"},\"finish_reason\":\"stop\"}]}";

/* wire §1.3: a chat stream with stream_options.include_usage. */
#define CH                                                                     \
	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","         \
	"\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\","
#define C1                                                                     \
	"\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","         \
	"\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]"
#define C2                                                                     \
	"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},"         \
	"\"logprobs\":null,\"finish_reason\":null}]"
#define C2_TRAP                                                                \
	"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" TRAP_TEXT        \
	"\"},\"logprobs\":null,\"finish_reason\":null}]"
#define C3                                                                     \
	"\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"            \
	"\"finish_reason\":\"stop\"}]"
#define CU                                                                     \
	"\"choices\":[],\"usage\":{\"prompt_tokens\":9,"                       \
	"\"completion_tokens\":1,\"total_tokens\":10,"                         \
	"\"prompt_tokens_details\":{\"cached_tokens\":0,"                      \
	"\"audio_tokens\":0},\"completion_tokens_details\":"                   \
	"{\"reasoning_tokens\":0,\"audio_tokens\":0,"                          \
	"\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}"
#define NU ",\"usage\":null"

static const char chat_sse[] = "data: " CH C1 NU "}\n\n"
                               "data: " CH C2 NU "}\n\n"
                               "data: " CH C3 NU "}\n\n"
                               "data: " CH CU "}\n\n"
                               "data: [DONE]\n\n";
/* The same stream as a client that never asked for usage sees it. */
static const char chat_sse_stripped[] = "data: " CH C1 "}\n\n"
                                        "data: " CH C2 "}\n\n"
                                        "data: " CH C3 "}\n\n"
                                        "data: [DONE]\n\n";

static const char chat_sse_crlf[] = "data: " CH C1 NU "}\r\n\r\n"
                                    "data: " CH C2 NU "}\r\n\r\n"
                                    "data: " CH C3 NU "}\r\n\r\n"
                                    "data: " CH CU "}\r\n\r\n"
                                    "data: [DONE]\r\n\r\n";
static const char chat_sse_crlf_stripped[] = "data: " CH C1 "}\r\n\r\n"
                                             "data: " CH C2 "}\r\n\r\n"
                                             "data: " CH C3 "}\r\n\r\n"
                                             "data: [DONE]\r\n\r\n";

static const char chat_sse_trap[] = "data: " CH C1 NU "}\n\n"
                                    "data: " CH C2_TRAP NU "}\n\n"
                                    "data: " CH C3 NU "}\n\n"
                                    "data: " CH CU "}\n\n"
                                    "data: [DONE]\n\n";
static const char chat_sse_trap_stripped[] = "data: " CH C1 "}\n\n"
                                             "data: " CH C2_TRAP "}\n\n"
                                             "data: " CH C3 "}\n\n"
                                             "data: [DONE]\n\n";

/* wire §3.2: Responses API stream, named events, no [DONE]. */
#define RS_CREATED                                                             \
	"event: response.created\n"                                            \
	"data: {\"type\":\"response.created\",\"sequence_number\":0,"          \
	"\"response\":{\"id\":\"resp_1\",\"object\":\"response\","             \
	"\"status\":\"in_progress\",\"model\":\"gpt-5-2025-08-07\","           \
	"\"usage\":null}}\n\n"
#define RS_DELTA                                                               \
	"event: response.output_text.delta\n"                                  \
	"data: {\"type\":\"response.output_text.delta\","                      \
	"\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,"      \
	"\"content_index\":0,\"delta\":\"" TRAP_TEXT "\"}\n\n"
#define RS_USAGE                                                               \
	"\"usage\":{\"input_tokens\":37,\"input_tokens_details\":"             \
	"{\"cached_tokens\":5,\"cache_write_tokens\":0},"                      \
	"\"output_tokens\":120,\"output_tokens_details\":"                     \
	"{\"reasoning_tokens\":64},\"total_tokens\":157}"
#define RS_COMPLETED                                                           \
	"event: response.completed\n"                                          \
	"data: {\"type\":\"response.completed\",\"sequence_number\":2,"        \
	"\"response\":{\"id\":\"resp_1\",\"object\":\"response\","             \
	"\"status\":\"completed\",\"model\":\"gpt-5-2025-08-07\","             \
	"\"service_tier\":\"default\",\"output\":[{\"type\":\"message\","      \
	"\"content\":[{\"type\":\"output_text\",\"text\":\"x\"}]}]," RS_USAGE  \
	"}}\n\n"
#define RS_INCOMPLETE                                                          \
	"event: response.incomplete\n"                                         \
	"data: {\"type\":\"response.incomplete\",\"sequence_number\":2,"       \
	"\"response\":{\"id\":\"resp_2\",\"object\":\"response\","             \
	"\"status\":\"incomplete\",\"incomplete_details\":"                    \
	"{\"reason\":\"max_output_tokens\"},\"model\":\"gpt-5-2025-08-07\","   \
	"\"usage\":{\"input_tokens\":40,\"input_tokens_details\":"             \
	"{\"cached_tokens\":0},\"output_tokens\":16,"                          \
	"\"output_tokens_details\":{\"reasoning_tokens\":16},"                 \
	"\"total_tokens\":56}}}\n\n"

static const char resp_sse[] = RS_CREATED RS_DELTA RS_COMPLETED;
static const char resp_sse_done[] =
    RS_CREATED RS_DELTA RS_COMPLETED "data: [DONE]\n\n";
static const char resp_sse_incomplete[] = RS_CREATED RS_DELTA RS_INCOMPLETE;

/* A non-streamed Response object. */
static const char resp_json[] =
    "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\","
    "\"model\":\"gpt-5-2025-08-07\",\"service_tier\":\"flex\","
    "\"output\":[{\"type\":\"message\",\"content\":[{\"type\":"
    "\"output_text\",\"text\":\"" TRAP_TEXT "\"}]}]," RS_USAGE "}";

/* wire §2: embeddings. */
static const char embed_json[] =
    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
    "\"embedding\":[0.0023,-0.0093,1e-5,-2.5E+3,0]}],"
    "\"model\":\"text-embedding-3-small\","
    "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}";

/* --- harness plumbing ------------------------------------------------- */

struct want {
	const char *model, *tier, *id; /* NULL: not checked */
	int has_usage;
	uint64_t in, cached, out, reasoning, ain, aout;
	int64_t text; /* output_text_bytes, -1: not checked */
	int problem;  /* 1 set, 0 NULL, -1 not checked */
};

struct rctx {
	struct meter_response_opts opts;
	struct meter_response *mr;
	struct sbuf out;
	int complete;
	const char *want_out;
	size_t want_out_len;
	const struct want *w;
	int want_rewrites;
};

static void
emit_cb(void *arg, const char *buf, size_t len)
{
	struct rctx *c = arg;

	sb_add(&c->out, buf, len);
}

static void
r_reset(void *arg)
{
	struct rctx *c = arg;

	meter_response_free(c->mr);
	c->mr = meter_response_new(&c->opts, emit_cb, c);
	if (c->mr == NULL)
		abort();
	sb_clear(&c->out);
}

static void
r_feed(void *arg, const char *p, size_t n)
{
	struct rctx *c = arg;

	meter_response_body(c->mr, p, n);
}

static void
check_usage(const struct meter_response *mr, const struct want *w,
            const char *run)
{
	const struct meter_usage *u = meter_response_usage(mr);
	const char *problem = meter_response_problem(mr);

#define U(field, want)                                                         \
	if ((unsigned long long)u->field != (unsigned long long)(want))        \
	harness_fail(__FILE__, __LINE__, "%s: " #field " %llu, want %llu",     \
	             run, (unsigned long long)u->field,                        \
	             (unsigned long long)(want))
	U(has_usage, w->has_usage);
	U(input_tokens, w->in);
	U(cached_input_tokens, w->cached);
	U(output_tokens, w->out);
	U(reasoning_tokens, w->reasoning);
	U(audio_input_tokens, w->ain);
	U(audio_output_tokens, w->aout);
	if (w->text >= 0)
		U(output_text_bytes, (uint64_t)w->text);
#undef U
	if (w->model != NULL && strcmp(u->model, w->model) != 0)
		harness_fail(__FILE__, __LINE__,
		             "%s: model \"%s\", want \"%s\"", run, u->model,
		             w->model);
	if (w->tier != NULL && strcmp(u->service_tier, w->tier) != 0)
		harness_fail(__FILE__, __LINE__, "%s: tier \"%s\", want \"%s\"",
		             run, u->service_tier, w->tier);
	if (w->id != NULL && strcmp(u->response_id, w->id) != 0)
		harness_fail(__FILE__, __LINE__, "%s: id \"%s\", want \"%s\"",
		             run, u->response_id, w->id);
	if (w->problem == 1 && problem == NULL)
		harness_fail(__FILE__, __LINE__, "%s: no problem reported",
		             run);
	if (w->problem == 0 && problem != NULL)
		harness_fail(__FILE__, __LINE__, "%s: problem \"%s\"", run,
		             problem);
}

static void
r_check(void *arg, const char *run)
{
	struct rctx *c = arg;

	if (meter_response_rewrites(c->mr) != c->want_rewrites)
		harness_fail(__FILE__, __LINE__, "%s: rewrites %d, want %d",
		             run, meter_response_rewrites(c->mr),
		             c->want_rewrites);
	meter_response_end(c->mr, c->complete);
	if (c->out.len != c->want_out_len ||
	    memcmp(c->out.p ? c->out.p : "", c->want_out, c->want_out_len) !=
	        0) {
		size_t i = 0;

		while (i < c->out.len && i < c->want_out_len &&
		       c->out.p[i] == c->want_out[i])
			i++;
		harness_fail(
		    __FILE__, __LINE__,
		    "%s: emitted %zu bytes, want %zu; first difference at %zu:"
		    "\n  got:  %.80s\n  want: %.80s",
		    run, c->out.len, c->want_out_len, i,
		    c->out.p ? c->out.p + i : "",
		    c->want_out + (i < c->want_out_len ? i : c->want_out_len));
	}
	check_usage(c->mr, c->w, run);
}

/*
 * Runs in whole, then split at every offset and byte by byte; each run
 * must emit want_out and read w.  splits = 0: whole only (big inputs).
 */
static void
run_resp(enum meter_endpoint ep, int status, const char *ct, const char *ce,
         int strip, int complete, const char *in, size_t len,
         const char *want_out, size_t want_out_len, int want_rewrites,
         const struct want *w, int splits)
{
	struct rctx c;

	memset(&c, 0, sizeof(c));
	c.opts.endpoint = ep;
	c.opts.status = status;
	c.opts.content_type = ct;
	c.opts.content_encoding = ce;
	c.opts.strip_usage = strip;
	c.complete = complete;
	c.want_out = want_out;
	c.want_out_len = want_out_len;
	c.w = w;
	c.want_rewrites = want_rewrites;
	r_reset(&c);
	r_feed(&c, in, len);
	r_check(&c, "whole");
	if (splits)
		harness_split_runs(in, len, &c, r_reset, r_feed, r_check);
	meter_response_free(c.mr);
	free(c.out.p);
}

#define JSON_CT "application/json"
#define SSE_CT "text/event-stream"
#define LEN(s) (sizeof(s) - 1)

/* Input passes through unchanged. */
#define RUN_SAME(ep, st, ct, ce, strip, complete, in, w)                       \
	run_resp(ep, st, ct, ce, strip, complete, in, LEN(in), in, LEN(in), 0, \
	         w, 1)

static const struct want w_chat_json = {"gpt-4o-2024-08-06",
                                        "default",
                                        "chatcmpl-abc",
                                        1,
                                        1200,
                                        1024,
                                        350,
                                        128,
                                        16,
                                        32,
                                        2,
                                        0};
static const struct want w_trap = {
    "gpt-4o-mini-2024-07-18", NULL, NULL, 1, 12, 0, 3, 0, 0, 0, -1, 0};
static const struct want w_chat_sse = {
    "gpt-4o-mini-2024-07-18", NULL, "chatcmpl-1", 1, 9, 0, 1, 0, 0, 0, 5, 0};
static const struct want w_chat_sse_trap = {
    "gpt-4o-mini-2024-07-18", NULL, "chatcmpl-1", 1, 9, 0, 1, 0, 0, 0, -1, 0};
static const struct want w_resp = {
    "gpt-5-2025-08-07", "default", "resp_1", 1, 37, 5, 120, 64, 0, 0, -1, 0};
static const struct want w_none = {NULL, NULL, NULL, 0, 0,  0,
                                   0,    0,    0,    0, -1, -1};

/* --- chat JSON -------------------------------------------------------- */

TEST(meter_response_body_chat_json)
{
	RUN_SAME(METER_EP_CHAT, 200, JSON_CT, NULL, 0, 1, chat_json,
	         &w_chat_json);
	/* strip_usage only ever touches streams */
	RUN_SAME(METER_EP_CHAT, 200, JSON_CT, NULL, 1, 1, chat_json,
	         &w_chat_json);
	/* media type parameters and case */
	RUN_SAME(METER_EP_CHAT, 200, "Application/JSON; charset=utf-8", NULL, 0,
	         1, chat_json, &w_chat_json);
	RUN_SAME(METER_EP_CHAT, 200, JSON_CT, "identity", 0, 1, chat_json,
	         &w_chat_json);
}

TEST(meter_response_body_trap_json)
{
	RUN_SAME(METER_EP_CHAT, 200, JSON_CT, NULL, 0, 1, trap_json, &w_trap);
	RUN_SAME(METER_EP_CHAT, 200, JSON_CT, NULL, 0, 1, trap_json_usage_first,
	         &w_trap);
}

TEST(meter_response_body_legacy_completions_json)
{
	static const char in[] =
	    "{\"id\":\"cmpl-1\",\"object\":\"text_completion\","
	    "\"created\":1589478378,\"model\":\"gpt-3.5-turbo-instruct\","
	    "\"choices\":[{\"text\":\"abc\",\"index\":0,\"logprobs\":null,"
	    "\"finish_reason\":\"length\"}],"
	    "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,"
	    "\"total_tokens\":12}}";
	static const struct want w = {"gpt-3.5-turbo-instruct",
	                              NULL,
	                              "cmpl-1",
	                              1,
	                              5,
	                              0,
	                              7,
	                              0,
	                              0,
	                              0,
	                              3,
	                              0};

	RUN_SAME(METER_EP_COMPLETIONS, 200, JSON_CT, NULL, 0, 1, in, &w);
}

/* --- chat streams ----------------------------------------------------- */

TEST(meter_response_body_chat_sse_strip)
{
	run_resp(METER_EP_CHAT, 200, SSE_CT, NULL, 1, 1, chat_sse,
	         LEN(chat_sse), chat_sse_stripped, LEN(chat_sse_stripped), 1,
	         &w_chat_sse, 1);
}

TEST(meter_response_body_chat_sse_no_strip)
{
	RUN_SAME(METER_EP_CHAT, 200, SSE_CT, NULL, 0, 1, chat_sse, &w_chat_sse);
}

TEST(meter_response_body_chat_sse_crlf_strip)
{
	run_resp(METER_EP_CHAT, 200, SSE_CT, NULL, 1, 1, chat_sse_crlf,
	         LEN(chat_sse_crlf), chat_sse_crlf_stripped,
	         LEN(chat_sse_crlf_stripped), 1, &w_chat_sse, 1);
	RUN_SAME(METER_EP_CHAT, 200, SSE_CT, NULL, 0, 1, chat_sse_crlf,
	         &w_chat_sse);
}

TEST(meter_response_body_chat_sse_trap)
{
	run_resp(METER_EP_CHAT, 200, SSE_CT, NULL, 1, 1, chat_sse_trap,
	         LEN(chat_sse_trap), chat_sse_trap_stripped,
	         LEN(chat_sse_trap_stripped), 1, &w_chat_sse_trap, 1);
	RUN_SAME(METER_EP_CHAT, 200, SSE_CT, NULL, 0, 1, chat_sse_trap,
	         &w_chat_sse_trap);
}

TEST(meter_response_body_chat_sse_without_usage)
{
	/* The client asked for no usage and tollgate did not inject: the
	 * stream has none to read. */
	static const char in[] = "data: " CH C1 "}\n\n"
	                         "data: " CH C2 "}\n\n"
	                         "data: " CH C3 "}\n\n"
	                         "data: [DONE]\n\n";
	static const struct want w = {
	    "gpt-4o-mini-2024-07-18", NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 5, -1};

	RUN_SAME(METER_EP_CHAT, 200, SSE_CT, NULL, 0, 1, in, &w);
}

TEST(meter_response_body_chat_sse_event_too_large_to_rewrite)
{
	/*
	 * One delta bigger than METER_MAX_SSE_EVENT_BYTES: it is forwarded
	 * as is and rewriting stops (response.h) — but the usage chunk that
	 * follows must still be metered.  Regression: mr_give_up_rewrite set
	 * mr->problem and mr_scan returned early whenever problem != NULL, so
	 * every later piece was forwarded but never scanned (has_usage 0).
	 */
	size_t big = METER_MAX_SSE_EVENT_BYTES + 4096, i, ev_len;
	struct sbuf in = {0};
	struct rctx c;
	static const struct want w = {
	    "gpt-4o-mini-2024-07-18", NULL, NULL, 1, 9, 0, 1, 0, 0, 0, -1, -1};
	char *text = malloc(big);

	memset(text, 'a', big);
	sb_add(&in,
	       "data: " CH "\"choices\":[{\"index\":0,\"delta\":"
	       "{\"content\":\"",
	       strlen("data: " CH "\"choices\":[{\"index\":0,"
	              "\"delta\":{\"content\":\""));
	sb_add(&in, text, big);
	sb_add(&in, "\"},\"logprobs\":null,\"finish_reason\":null}]" NU "}\n\n",
	       strlen("\"},\"logprobs\":null,\"finish_reason\":null}]" NU
	              "}\n\n"));
	ev_len = in.len;
	sb_add(&in, "data: " CH CU "}\n\ndata: [DONE]\n\n",
	       strlen("data: " CH CU "}\n\ndata: [DONE]\n\n"));

	memset(&c, 0, sizeof(c));
	c.opts.endpoint = METER_EP_CHAT;
	c.opts.status = 200;
	c.opts.content_type = SSE_CT;
	c.opts.strip_usage = 1;
	c.complete = 1;
	r_reset(&c);
	/* The big event in 64 KiB pieces, then the usage chunk in its own
	 * piece, as a socket would deliver them. */
	for (i = 0; i < ev_len; i += 65536)
		r_feed(&c, in.p + i, ev_len - i < 65536 ? ev_len - i : 65536);
	r_feed(&c, in.p + ev_len, in.len - ev_len);
	meter_response_end(c.mr, 1);
	CHECK(c.out.len == in.len && memcmp(c.out.p, in.p, in.len) == 0);
	check_usage(c.mr, &w, "64k pieces");
	meter_response_free(c.mr);
	free(c.out.p);
	free(in.p);
	free(text);
}

/* --- Responses API ---------------------------------------------------- */

TEST(meter_response_body_responses_sse)
{
	RUN_SAME(METER_EP_RESPONSES, 200, SSE_CT, NULL, 0, 1, resp_sse,
	         &w_resp);
}

TEST(meter_response_body_responses_sse_with_done)
{
	RUN_SAME(METER_EP_RESPONSES, 200, SSE_CT, NULL, 0, 1, resp_sse_done,
	         &w_resp);
}

TEST(meter_response_body_responses_sse_incomplete)
{
	static const struct want w = {
	    "gpt-5-2025-08-07", NULL, "resp_2", 1, 40, 0, 16, 16, 0, 0, -1, 0};

	RUN_SAME(METER_EP_RESPONSES, 200, SSE_CT, NULL, 0, 1,
	         resp_sse_incomplete, &w);
}

TEST(meter_response_body_responses_sse_no_usage_before_completed)
{
	/* created + delta only (cut before response.completed). */
	static const char in[] = RS_CREATED RS_DELTA;
	static const struct want w = {
	    "gpt-5-2025-08-07", NULL, "resp_1", 0, 0, 0, 0, 0, 0, 0, -1, 1};

	RUN_SAME(METER_EP_RESPONSES, 200, SSE_CT, NULL, 0, 0, in, &w);
}

TEST(meter_response_body_responses_json)
{
	static const struct want w = {"gpt-5-2025-08-07",
	                              "flex",
	                              "resp_1",
	                              1,
	                              37,
	                              5,
	                              120,
	                              64,
	                              0,
	                              0,
	                              -1,
	                              0};

	RUN_SAME(METER_EP_RESPONSES, 200, JSON_CT, NULL, 0, 1, resp_json, &w);
}

/* --- embeddings ------------------------------------------------------- */

TEST(meter_response_body_embeddings_json)
{
	static const struct want w = {
	    "text-embedding-3-small", NULL, NULL, 1, 8, 0, 0, 0, 0, 0, 0, 0};

	RUN_SAME(METER_EP_EMBEDDINGS, 200, JSON_CT, NULL, 0, 1, embed_json, &w);
}

TEST(meter_response_body_embeddings_large)
{
	/* 200k floats: no split runs, just bounded work and the answer. */
	struct sbuf in = {0};
	char num[32];
	int i;
	static const struct want w = {
	    "text-embedding-3-large", NULL, NULL, 1, 4000, 0, 0, 0, 0, 0, 0, 0};

	static const char head[] = "{\"object\":\"list\",\"data\":[{\"object\":"
	                           "\"embedding\",\"index\":0,\"embedding\":[";
	static const char tail[] = "]}],\"model\":\"text-embedding-3-large\","
	                           "\"usage\":{\"prompt_tokens\":4000,"
	                           "\"total_tokens\":4000}}";

	sb_add(&in, head, LEN(head));
	for (i = 0; i < 200000; i++) {
		int k =
		    snprintf(num, sizeof(num), "%s-0.0%05d", i ? "," : "", i);

		sb_add(&in, num, (size_t)k);
	}
	sb_add(&in, tail, LEN(tail));
	run_resp(METER_EP_EMBEDDINGS, 200, JSON_CT, NULL, 0, 1, in.p, in.len,
	         in.p, in.len, 0, &w, 0);
	free(in.p);
}

/* --- compressed bodies ----------------------------------------------- */

/* windowBits 31: gzip, 15: zlib (RFC 1950), -15: raw deflate (RFC 1951) */
static size_t
squeeze(const char *in, size_t len, int window_bits, char *out, size_t cap)
{
	z_stream z;
	size_t n;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, window_bits, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = (unsigned char *)out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

TEST(meter_response_body_gzip_json)
{
	char z[4096];
	size_t n = squeeze(chat_json, LEN(chat_json), 31, z, sizeof(z));

	run_resp(METER_EP_CHAT, 200, JSON_CT, "gzip", 0, 1, z, n, z, n, 0,
	         &w_chat_json, 1);
	run_resp(METER_EP_CHAT, 200, JSON_CT, "x-gzip", 0, 1, z, n, z, n, 0,
	         &w_chat_json, 1);
}

TEST(meter_response_body_deflate_zlib_json)
{
	char z[4096];
	uLongf n = sizeof(z);

	/* What HTTP calls "deflate" (RFC 9110 §8.4.1.2): zlib format. */
	CHECK(compress2((Bytef *)z, &n, (const Bytef *)chat_json,
	                LEN(chat_json), 9) == Z_OK);
	run_resp(METER_EP_CHAT, 200, JSON_CT, "deflate", 0, 1, z, n, z, n, 0,
	         &w_chat_json, 1);
}

TEST(meter_response_body_deflate_raw_json)
{
	/*
	 * Servers that send bare RFC 1951 data as "deflate" (response.c
	 * decodes them).  Regression: the raw retry once restarted from
	 * z.next_in after zlib had consumed the two bytes it rejected as a
	 * zlib header (so raw bodies were always "corrupt"), and a first
	 * piece of one byte meant the retry was never tried.
	 */
	char z[4096];
	size_t n = squeeze(chat_json, LEN(chat_json), -15, z, sizeof(z));

	run_resp(METER_EP_CHAT, 200, JSON_CT, "deflate", 0, 1, z, n, z, n, 0,
	         &w_chat_json, 1);
}

TEST(meter_response_body_gzip_sse)
{
	/* Compressed streams are metered but never rewritten. */
	char z[8192];
	size_t n = squeeze(chat_sse, LEN(chat_sse), 31, z, sizeof(z));

	run_resp(METER_EP_CHAT, 200, SSE_CT, "gzip", 1, 1, z, n, z, n, 0,
	         &w_chat_sse, 1);
	n = squeeze(resp_sse, LEN(resp_sse), 31, z, sizeof(z));
	run_resp(METER_EP_RESPONSES, 200, SSE_CT, "gzip", 0, 1, z, n, z, n, 0,
	         &w_resp, 1);
}

TEST(meter_response_body_gzip_concatenated_members)
{
	/* Two gzip members make one body (RFC 1952 §2.2). */
	char z[8192];
	size_t half = LEN(chat_json) / 2;
	size_t n = squeeze(chat_json, half, 31, z, sizeof(z));

	n += squeeze(chat_json + half, LEN(chat_json) - half, 31, z + n,
	             sizeof(z) - n);
	run_resp(METER_EP_CHAT, 200, JSON_CT, "gzip", 0, 1, z, n, z, n, 0,
	         &w_chat_json, 1);
}

TEST(meter_response_body_corrupt_gzip)
{
	static const struct want w = {NULL, NULL, NULL, 0, 0,  0,
	                              0,    0,    0,    0, -1, 1};
	char z[4096];
	size_t n = squeeze(chat_json, LEN(chat_json), 31, z, sizeof(z));

	memset(z + 20, 0xff, 40);
	run_resp(METER_EP_CHAT, 200, JSON_CT, "gzip", 0, 1, z, n, z, n, 0, &w,
	         1);
}

TEST(meter_response_body_unknown_encoding)
{
	/* Brotli is not decoded: bytes pass, the meter says why. */
	static const struct want w = {NULL, NULL, NULL, 0, 0,  0,
	                              0,    0,    0,    0, -1, 1};

	RUN_SAME(METER_EP_CHAT, 200, JSON_CT, "br", 0, 1, chat_json, &w);
}

/* --- cut off, errors, unmetered --------------------------------------- */

TEST(meter_response_end_cut_off_stream)
{
	/* The connection dropped in the middle of the third chunk. */
	size_t cut = LEN("data: " CH C1 NU "}\n\n"
	                 "data: " CH C2 NU "}\n\n"
	                 "data: " CH C3);
	static const char want_strip[] = "data: " CH C1 "}\n\n"
	                                 "data: " CH C2 "}\n\n"
	                                 "data: " CH C3;
	static const struct want w = {
	    "gpt-4o-mini-2024-07-18", NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 5, 1};

	run_resp(METER_EP_CHAT, 200, SSE_CT, NULL, 0, 0, chat_sse, cut,
	         chat_sse, cut, 0, &w, 1);
	run_resp(METER_EP_CHAT, 200, SSE_CT, NULL, 1, 0, chat_sse, cut,
	         want_strip, LEN(want_strip), 1, &w, 1);
}

TEST(meter_response_end_cut_off_json)
{
	static const struct want w = {NULL, NULL, NULL, 0, 0,  0,
	                              0,    0,    0,    0, -1, 1};
	size_t cut = LEN(chat_json) - 10; /* inside the usage object */

	run_resp(METER_EP_CHAT, 200, JSON_CT, NULL, 0, 0, chat_json, cut,
	         chat_json, cut, 0, &w, 1);
	/* The same bytes said to be complete are malformed JSON. */
	run_resp(METER_EP_CHAT, 200, JSON_CT, NULL, 0, 1, chat_json, cut,
	         chat_json, cut, 0, &w, 1);
}

TEST(meter_response_end_malformed_event_ignored)
{
	/* A torn usage event never contributes half a usage object. */
	static const char in[] =
	    "data: " CH C1 NU "}\n\n"
	    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":50,\n\n"
	    "data: [DONE]\n\n";
	static const struct want w = {
	    "gpt-4o-mini-2024-07-18", NULL, NULL, 0, 0, 0, 0, 0, 0, 0, -1, -1};

	RUN_SAME(METER_EP_CHAT, 200, SSE_CT, NULL, 0, 1, in, &w);
}

TEST(meter_response_new_non_2xx_no_usage)
{
	static const char err_json[] =
	    "{\"error\":{\"message\":\"Rate limit reached\",\"type\":"
	    "\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"},"
	    "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":5}}";

	RUN_SAME(METER_EP_CHAT, 429, JSON_CT, NULL, 0, 1, err_json, &w_none);
	RUN_SAME(METER_EP_CHAT, 500, JSON_CT, NULL, 1, 1, chat_json, &w_none);
	RUN_SAME(METER_EP_CHAT, 400, SSE_CT, NULL, 1, 1, chat_sse, &w_none);
	RUN_SAME(METER_EP_CHAT, 199, JSON_CT, NULL, 0, 1, chat_json, &w_none);
	RUN_SAME(METER_EP_CHAT, 304, JSON_CT, NULL, 0, 1, chat_json, &w_none);
}

TEST(meter_response_new_unmetered_endpoint)
{
	static const struct want w = {NULL, NULL, NULL, 0, 0,  0,
	                              0,    0,    0,    0, -1, 0};

	RUN_SAME(METER_EP_FILES, 200, JSON_CT, NULL, 0, 1, chat_json, &w);
	RUN_SAME(METER_EP_OTHER, 200, SSE_CT, NULL, 1, 1, chat_sse, &w);
}

TEST(meter_response_new_other_content_type)
{
	static const struct want w = {NULL, NULL, NULL, 0, 0,  0,
	                              0,    0,    0,    0, -1, 1};

	RUN_SAME(METER_EP_CHAT, 200, "text/plain", NULL, 1, 1, chat_json, &w);
	RUN_SAME(METER_EP_CHAT, 200, NULL, NULL, 1, 1, chat_json, &w);
	RUN_SAME(METER_EP_CHAT, 200, "application/jsonx", NULL, 0, 1, chat_json,
	         &w);
}

TEST(meter_response_usage_before_end_and_empty_body)
{
	struct meter_response_opts o = {METER_EP_CHAT, 200, JSON_CT, NULL, 0};
	struct rctx c;
	struct meter_response *mr;

	memset(&c, 0, sizeof(c));
	mr = meter_response_new(&o, emit_cb, &c);
	CHECK(mr != NULL);
	CHECK(meter_response_usage(mr)->has_usage == 0);
	meter_response_body(mr, "", 0);
	meter_response_end(mr, 1);
	CHECK(meter_response_usage(mr)->has_usage == 0);
	CHECK(meter_response_problem(mr) != NULL); /* an empty 200 body */
	CHECK(c.out.len == 0);
	meter_response_free(mr);
	meter_response_free(NULL);
	free(c.out.p);
}

/* --- transcriptions (openai-wire.md §4.1) ------------------------------ */

static const char whisper_json[] =
    "{\"text\":\"Hello there.\",\"usage\":{\"type\":\"duration\","
    "\"seconds\":9.4}}";
static const char whisper_verbose[] =
    "{\"task\":\"transcribe\",\"language\":\"english\",\"duration\":"
    "12.3456,\"text\":\"Hi.\",\"segments\":[{\"id\":0,\"start\":0.0,"
    "\"end\":12.3,\"text\":\"Hi.\"}]}";
static const char gpt_transcribe_json[] =
    "{\"text\":\"Hi.\",\"usage\":{\"type\":\"tokens\",\"input_tokens\":14,"
    "\"input_token_details\":{\"text_tokens\":10,\"audio_tokens\":4},"
    "\"output_tokens\":31,\"total_tokens\":45}}";
static const char gpt_transcribe_sse[] =
    "data: {\"type\":\"transcript.text.delta\",\"delta\":\"Hi\"}\n\n"
    "data: {\"type\":\"transcript.text.done\",\"text\":\"Hi.\","
    "\"usage\":{\"type\":\"tokens\",\"input_tokens\":14,"
    "\"input_token_details\":{\"text_tokens\":10,\"audio_tokens\":4},"
    "\"output_tokens\":31,\"total_tokens\":45}}\n\n";

static void
emit_cb_null(void *arg, const char *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
}

static void
check_audio_ms(enum meter_endpoint ep, const char *ct, const char *in,
               uint64_t want)
{
	struct meter_response_opts o;
	struct meter_response *mr;

	memset(&o, 0, sizeof(o));
	o.endpoint = ep;
	o.status = 200;
	o.content_type = ct;
	mr = meter_response_new(&o, emit_cb_null, NULL);
	if (mr == NULL)
		return;
	meter_response_body(mr, in, strlen(in));
	meter_response_end(mr, 1);
	CHECK_U64(meter_response_usage(mr)->audio_ms, want);
	meter_response_free(mr);
}

TEST(meter_response_body_transcriptions)
{
	static const struct want w_tokens = {NULL, NULL, NULL, 1, 14, 0,
	                                     31,   0,    4,    0, -1, 0};
	static const struct want w_duration = {NULL, NULL, NULL, 1, 0,  0,
	                                       0,    0,    0,    0, -1, 0};

	RUN_SAME(METER_EP_AUDIO_TRANSCRIPTIONS, 200, JSON_CT, NULL, 0, 1,
	         gpt_transcribe_json, &w_tokens);
	RUN_SAME(METER_EP_AUDIO_TRANSCRIPTIONS, 200, SSE_CT, NULL, 0, 1,
	         gpt_transcribe_sse, &w_tokens);
	RUN_SAME(METER_EP_AUDIO_TRANSCRIPTIONS, 200, JSON_CT, NULL, 0, 1,
	         whisper_json, &w_duration);
	check_audio_ms(METER_EP_AUDIO_TRANSCRIPTIONS, JSON_CT, whisper_json,
	               9400);
	check_audio_ms(METER_EP_AUDIO_TRANSLATIONS, JSON_CT, whisper_verbose,
	               12346);
	/* text / srt / vtt answers carry nothing to read */
	check_audio_ms(METER_EP_AUDIO_TRANSCRIPTIONS, "text/plain",
	               "Hello there.", 0);
	/* exponents and signs are not taken for seconds */
	check_audio_ms(METER_EP_AUDIO_TRANSCRIPTIONS, JSON_CT,
	               "{\"usage\":{\"type\":\"duration\",\"seconds\":1e3}}",
	               0);
	check_audio_ms(METER_EP_AUDIO_TRANSCRIPTIONS, JSON_CT,
	               "{\"usage\":{\"type\":\"duration\",\"seconds\":-2}}", 0);
}
