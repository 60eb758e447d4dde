/*
 * tests/unit/test_meter_request.c — meter/request.c, request body
 * inspection and usage injection.
 *
 * meter_request_inspect takes a whole buffered body (not a stream), so the
 * vectors are fed whole.  Covers: model, stream, include_usage (-1/0/1),
 * max_tokens / max_completion_tokens / max_output_tokens, n, user and
 * safety_identifier, background; fields only count at the top level;
 * invalid JSON and non-object roots give -1 with a reason; an empty body
 * gives defaults; meter_request_needs_usage_injection per endpoint; and
 * meter_request_inject_usage for stream_options absent, {} , an object
 * without include_usage, null and include_usage:false — the result must
 * re-inspect as valid JSON with include_usage 1, with every byte outside
 * the one edit unchanged.  The input estimate is never 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/jscan.h"
#include "meter/request.h"
#include "tests/unit/harness.h"

static int
inspect(enum meter_endpoint ep, const char *body, struct meter_request *rq)
{
	const char *err = NULL;
	uint64_t off = 0;
	int rc = meter_request_inspect(ep, body, strlen(body), rq, &err, &off);

	if (rc == 0 && err != NULL)
		harness_fail(__FILE__, __LINE__, "errstr set on success");
	return rc;
}

TEST(meter_request_inspect_fields)
{
	const char *body =
	    "{\"model\":\"gpt-4o-mini\",\"stream\":true,"
	    "\"stream_options\":{\"include_usage\":true},"
	    "\"max_tokens\":100,\"n\":3,\"user\":\"u-1\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
	struct meter_request rq;

	CHECK(inspect(METER_EP_CHAT, body, &rq) == 0);
	CHECK(rq.endpoint == METER_EP_CHAT);
	CHECK(rq.is_json == 1);
	CHECK_STR(rq.model, "gpt-4o-mini");
	CHECK(rq.stream == 1);
	CHECK(rq.include_usage == 1);
	CHECK(rq.background == 0);
	CHECK_U64(rq.max_output_tokens, 100);
	CHECK_U64(rq.n, 3);
	CHECK_STR(rq.end_user, "u-1");
	CHECK(rq.stream_options.present == 1);
	CHECK(rq.include_usage_value.present == 1);
	CHECK_U64(rq.root_end, strlen(body) - 1);
	CHECK_U64(rq.root_members, 7);
}

TEST(meter_request_inspect_include_usage_states)
{
	struct meter_request rq;

	CHECK(inspect(METER_EP_CHAT, "{\"stream\":true}", &rq) == 0);
	CHECK(rq.include_usage == -1);
	CHECK(rq.stream_options.present == 0);
	CHECK(inspect(METER_EP_CHAT,
	              "{\"stream\":true,\"stream_options\":"
	              "{\"include_usage\":false}}",
	              &rq) == 0);
	CHECK(rq.include_usage == 0);
	CHECK(inspect(METER_EP_CHAT,
	              "{\"stream\":true,\"stream_options\":"
	              "{\"include_obfuscation\":false}}",
	              &rq) == 0);
	CHECK(rq.include_usage == -1);
	CHECK(rq.stream_options.present == 1);
	CHECK(inspect(METER_EP_CHAT,
	              "{\"stream\":true,\"stream_options\":"
	              "null}",
	              &rq) == 0);
	CHECK(rq.include_usage == -1);
	CHECK(rq.stream_options.present == 1);
	CHECK(inspect(METER_EP_CHAT,
	              "{\"stream_options\":{\"include_usage\""
	              ":true},\"stream\":true}",
	              &rq) == 0);
	CHECK(rq.include_usage == 1);
	/* include_usage elsewhere is not the option. */
	CHECK(inspect(METER_EP_CHAT,
	              "{\"stream\":true,\"metadata\":"
	              "{\"include_usage\":true},\"include_usage\":true}",
	              &rq) == 0);
	CHECK(rq.include_usage == -1);
}

TEST(meter_request_inspect_max_output_tokens)
{
	struct meter_request rq;

	CHECK(inspect(METER_EP_CHAT, "{\"max_completion_tokens\":4096}", &rq) ==
	      0);
	CHECK_U64(rq.max_output_tokens, 4096);
	CHECK(inspect(METER_EP_RESPONSES, "{\"max_output_tokens\":512}", &rq) ==
	      0);
	CHECK_U64(rq.max_output_tokens, 512);
	CHECK(inspect(METER_EP_COMPLETIONS, "{\"max_tokens\":7}", &rq) == 0);
	CHECK_U64(rq.max_output_tokens, 7);
	CHECK(inspect(METER_EP_CHAT, "{\"max_tokens\":null}", &rq) == 0);
	CHECK_U64(rq.max_output_tokens, 0);
	CHECK(inspect(METER_EP_CHAT, "{\"model\":\"x\"}", &rq) == 0);
	CHECK_U64(rq.max_output_tokens, 0);
}

TEST(meter_request_inspect_n)
{
	struct meter_request rq;

	CHECK(inspect(METER_EP_CHAT, "{\"n\":4}", &rq) == 0);
	CHECK_U64(rq.n, 4);
	CHECK(inspect(METER_EP_CHAT, "{\"model\":\"x\"}", &rq) == 0);
	CHECK_U64(rq.n, 1);
	CHECK(inspect(METER_EP_CHAT, "{\"n\":0}", &rq) == 0);
	CHECK(rq.n >= 1);
	CHECK(inspect(METER_EP_CHAT, "{\"n\":null}", &rq) == 0);
	CHECK_U64(rq.n, 1);
}

TEST(meter_request_inspect_end_user)
{
	struct meter_request rq;
	char body[400], longu[300];

	CHECK(inspect(METER_EP_CHAT, "{\"user\":\"alice\"}", &rq) == 0);
	CHECK_STR(rq.end_user, "alice");
	CHECK(inspect(METER_EP_RESPONSES, "{\"safety_identifier\":\"h-1\"}",
	              &rq) == 0);
	CHECK_STR(rq.end_user, "h-1");
	/* safety_identifier replaces user, whatever the order. */
	CHECK(inspect(METER_EP_CHAT,
	              "{\"safety_identifier\":\"s\","
	              "\"user\":\"u\"}",
	              &rq) == 0);
	CHECK_STR(rq.end_user, "s");
	CHECK(inspect(METER_EP_CHAT,
	              "{\"user\":\"u\","
	              "\"safety_identifier\":\"s\"}",
	              &rq) == 0);
	CHECK_STR(rq.end_user, "s");
	/* A nested "user" (a message role's name) is not the end user. */
	CHECK(inspect(METER_EP_CHAT,
	              "{\"messages\":[{\"role\":\"user\","
	              "\"user\":\"nested\"}]}",
	              &rq) == 0);
	CHECK_STR(rq.end_user, "");
	/* Too long: cut to fit, still terminated. */
	memset(longu, 'u', 250);
	longu[250] = '\0';
	snprintf(body, sizeof(body), "{\"user\":\"%s\"}", longu);
	CHECK(inspect(METER_EP_CHAT, body, &rq) == 0);
	CHECK(strlen(rq.end_user) < METER_MAX_END_USER);
	CHECK(strncmp(rq.end_user, longu, strlen(rq.end_user)) == 0);
}

TEST(meter_request_inspect_background_and_stream)
{
	struct meter_request rq;

	CHECK(inspect(METER_EP_RESPONSES,
	              "{\"background\":true,"
	              "\"stream\":false}",
	              &rq) == 0);
	CHECK(rq.background == 1);
	CHECK(rq.stream == 0);
	CHECK(inspect(METER_EP_RESPONSES, "{\"background\":false}", &rq) == 0);
	CHECK(rq.background == 0);
	/* Only JSON true is true. */
	CHECK(inspect(METER_EP_CHAT, "{\"stream\":\"true\"}", &rq) == 0);
	CHECK(rq.stream == 0);
	CHECK(inspect(METER_EP_CHAT, "{\"stream\":1}", &rq) == 0);
	CHECK(rq.stream == 0);
}

TEST(meter_request_inspect_top_level_only)
{
	struct meter_request rq;

	CHECK(
	    inspect(
	        METER_EP_CHAT,
	        "{\"messages\":[{\"role\":\"user\",\"model\":\"fake\","
	        "\"stream\":true,\"content\":\"\\\"model\\\":\\\"trap\\\"\"}],"
	        "\"model\":\"real\",\"tools\":[{\"n\":9,\"max_tokens\":5}]}",
	        &rq) == 0);
	CHECK_STR(rq.model, "real");
	CHECK(rq.stream == 0);
	CHECK_U64(rq.n, 1);
	CHECK_U64(rq.max_output_tokens, 0);
}

TEST(meter_request_inspect_invalid_json)
{
	static const char *const bad[] = {
	    "{\"model\":", "{\"model\":\"x\",}", "{\"model\":\"x\"} trailing",
	    "not json",    "{\"a\":tru}",        "{",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct meter_request rq;
		const char *err = NULL;
		uint64_t off = 99999;

		if (meter_request_inspect(METER_EP_CHAT, bad[i], strlen(bad[i]),
		                          &rq, &err, &off) != -1) {
			harness_fail(__FILE__, __LINE__, "accepted: %s",
			             bad[i]);
			continue;
		}
		CHECK(err != NULL && err[0] != '\0');
		CHECK(off <= strlen(bad[i]));
		CHECK(rq.is_json == 0);
	}
	/* Where: the ',' that has no member after it is at 12, the '}' at
	 * 13 is what cannot follow. */
	{
		struct meter_request rq;
		const char *err = NULL;
		uint64_t off = 0;

		CHECK(meter_request_inspect(METER_EP_CHAT, "{\"model\":\"x\",}",
		                            14, &rq, &err, &off) == -1);
		CHECK_U64(off, 13);
	}
}

TEST(meter_request_inspect_non_object_root)
{
	static const char *const bad[] = {
	    "[1,2]", "\"x\"", "42", "null", "true", "[{\"model\":\"x\"}]"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct meter_request rq;
		const char *err = NULL;
		uint64_t off = 0;

		CHECK(meter_request_inspect(METER_EP_CHAT, bad[i],
		                            strlen(bad[i]), &rq, &err,
		                            &off) == -1);
		CHECK(err != NULL);
		CHECK(rq.is_json == 0);
	}
}

TEST(meter_request_inspect_empty_body)
{
	struct meter_request rq;
	const char *err = NULL;
	uint64_t off = 0;

	memset(&rq, 0xa5, sizeof(rq));
	CHECK(meter_request_inspect(METER_EP_EMBEDDINGS, "", 0, &rq, &err,
	                            &off) == 0);
	CHECK(rq.endpoint == METER_EP_EMBEDDINGS);
	CHECK(rq.is_json == 0);
	CHECK_STR(rq.model, "");
	CHECK(rq.stream == 0);
	CHECK(rq.include_usage == -1);
	CHECK(rq.background == 0);
	CHECK_U64(rq.max_output_tokens, 0);
	CHECK_U64(rq.n, 1);
	CHECK_STR(rq.end_user, "");
	CHECK(meter_request_needs_usage_injection(&rq) == 0);
	CHECK(meter_request_estimate_input(&rq) >= 1);
	/* Whitespace only is not an empty body: it is not an object. */
	CHECK(meter_request_inspect(METER_EP_CHAT, "  ", 2, &rq, &err, &off) ==
	      -1);
}

TEST(meter_request_needs_usage_injection_cases)
{
	static const struct {
		enum meter_endpoint ep;
		const char *body;
		int want;
	} cases[] = {
	    {METER_EP_CHAT, "{\"stream\":true}", 1},
	    {METER_EP_CHAT, "{\"stream\":true,\"stream_options\":null}", 1},
	    {METER_EP_CHAT, "{\"stream\":true,\"stream_options\":{}}", 1},
	    {METER_EP_CHAT,
	     "{\"stream\":true,\"stream_options\":"
	     "{\"include_usage\":false}}",
	     1},
	    {METER_EP_CHAT,
	     "{\"stream\":true,\"stream_options\":"
	     "{\"include_usage\":true}}",
	     0},
	    {METER_EP_CHAT, "{\"stream\":false}", 0},
	    {METER_EP_CHAT, "{}", 0},
	    /* legacy completions take the same stream_options (wire §2) */
	    {METER_EP_COMPLETIONS, "{\"stream\":true}", 1},
	    /* Responses always sends usage; embeddings never stream */
	    {METER_EP_RESPONSES, "{\"stream\":true}", 0},
	    {METER_EP_EMBEDDINGS, "{\"stream\":true}", 0},
	    {METER_EP_OTHER, "{\"stream\":true}", 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct meter_request rq;

		CHECK(inspect(cases[i].ep, cases[i].body, &rq) == 0);
		if (meter_request_needs_usage_injection(&rq) != cases[i].want)
			harness_fail(__FILE__, __LINE__,
			             "needs_usage_injection(%s, %s) != %d",
			             meter_endpoint_name(cases[i].ep),
			             cases[i].body, cases[i].want);
	}
}

/*
 * Injects into body and checks the contract: the result re-inspects as a
 * JSON object with include_usage 1 and the other fields as before, and it
 * differs from body in one place only — an insertion, or the replacement
 * of bytes inside [span_begin, span_end) (the old value) when span_end > 0.
 */
static void
check_inject(const char *body, uint64_t span_begin, uint64_t span_end)
{
	struct meter_request rq, rq2;
	char *out = NULL;
	size_t len = strlen(body), outlen = 0, pre = 0, suf = 0, lim;

	if (inspect(METER_EP_CHAT, body, &rq) != 0) {
		harness_fail(__FILE__, __LINE__, "cannot inspect %s", body);
		return;
	}
	CHECK(meter_request_needs_usage_injection(&rq) == 1);
	if (meter_request_inject_usage(&rq, body, len, &out, &outlen) != 0) {
		harness_fail(__FILE__, __LINE__, "inject failed: %s", body);
		return;
	}
	CHECK(out != NULL && strlen(out) == outlen);
	/* one edit: common prefix + changed middle + common suffix */
	while (pre < len && pre < outlen && body[pre] == out[pre])
		pre++;
	lim = (len < outlen ? len : outlen) - pre;
	while (suf < lim && body[len - 1 - suf] == out[outlen - 1 - suf])
		suf++;
	if (span_end == 0) {
		if (pre + suf != len)
			harness_fail(__FILE__, __LINE__,
			             "not a pure insertion: %s -> %s", body,
			             out);
	} else if (pre < span_begin || len - suf > span_end) {
		harness_fail(__FILE__, __LINE__,
		             "bytes changed outside [%llu,%llu): %s -> %s",
		             (unsigned long long)span_begin,
		             (unsigned long long)span_end, body, out);
	}
	if (inspect(METER_EP_CHAT, out, &rq2) != 0) {
		harness_fail(__FILE__, __LINE__, "result is not JSON: %s", out);
	} else {
		CHECK(rq2.is_json == 1);
		CHECK(rq2.include_usage == 1);
		CHECK(rq2.stream == rq.stream);
		CHECK_STR(rq2.model, rq.model);
		CHECK(meter_request_needs_usage_injection(&rq2) == 0);
	}
	free(out);
}

static uint64_t
off_of(const char *body, const char *needle)
{
	const char *p = strstr(body, needle);

	return p != NULL ? (uint64_t)(p - body) : 0;
}

TEST(meter_request_inject_usage_absent)
{
	check_inject("{\"model\":\"gpt-4o-mini\",\"stream\":true,"
	             "\"messages\":[{\"role\":\"user\",\"content\":\"hi }\"}]}",
	             0, 0);
	check_inject("{ \"stream\" : true ,\n  \"model\": \"m\"\n}\n", 0, 0);
	check_inject("\n\t{\"stream\":true}  ", 0, 0);
}

TEST(meter_request_inject_usage_empty_object)
{
	check_inject("{\"stream\":true,\"stream_options\":{}}", 0, 0);
	check_inject("{\"stream\":true,\"stream_options\":{ \n },\"model\":"
	             "\"m\"}",
	             0, 0);
}

TEST(meter_request_inject_usage_object_without_include_usage)
{
	check_inject("{\"stream\":true,\"stream_options\":"
	             "{\"include_obfuscation\":false}}",
	             0, 0);
	check_inject("{\"stream_options\": { \"include_obfuscation\" : false ,"
	             " \"x\":[1,{}] },\"stream\":true,\"model\":\"m\"}",
	             0, 0);
}

TEST(meter_request_inject_usage_null)
{
	const char *b = "{\"stream\":true,\"stream_options\":null,\"model\":"
	                "\"m\"}";
	uint64_t at = off_of(b, "null");

	check_inject(b, at, at + 4);
}

TEST(meter_request_inject_usage_false)
{
	const char *b = "{\"stream\":true,\"stream_options\":{\"include_usage"
	                "\":false,\"include_obfuscation\":true}}";
	uint64_t at = off_of(b, "false");

	check_inject(b, at, at + 5);
	b = "{\"stream\":true,\"stream_options\":{\"include_usage\": null }}";
	at = off_of(b, "null");
	check_inject(b, at, at + 4);
}

TEST(meter_request_estimate_input_never_zero)
{
	struct meter_request rq, big;
	char body[2200];

	CHECK(inspect(METER_EP_CHAT, "{}", &rq) == 0);
	CHECK(meter_request_estimate_input(&rq) >= 1);
	CHECK(inspect(METER_EP_CHAT, "{\"model\":\"m\"}", &rq) == 0);
	CHECK(meter_request_estimate_input(&rq) >= 1);
	CHECK(inspect(METER_EP_CHAT,
	              "{\"messages\":[{\"role\":\"user\","
	              "\"content\":\"\"}]}",
	              &rq) == 0);
	CHECK(meter_request_estimate_input(&rq) >= 1);
	/* More prompt text, a larger estimate. */
	CHECK(inspect(METER_EP_CHAT,
	              "{\"messages\":[{\"role\":\"user\","
	              "\"content\":\"hello\"}]}",
	              &rq) == 0);
	snprintf(body, sizeof(body),
	         "{\"messages\":[{\"role\":\"user\","
	         "\"content\":\"%2000d\"}]}",
	         1);
	CHECK(inspect(METER_EP_CHAT, body, &big) == 0);
	CHECK(meter_request_estimate_input(&big) >
	      meter_request_estimate_input(&rq));
	CHECK(meter_request_estimate_input(&big) >= 2000 / 8);
	/* Token-id prompts count their tokens. */
	CHECK(inspect(METER_EP_COMPLETIONS, "{\"prompt\":[1,2,3,4,5,6,7,8]}",
	              &rq) == 0);
	CHECK(meter_request_estimate_input(&rq) >= 8);
	CHECK(inspect(METER_EP_EMBEDDINGS, "{\"input\":[[1,2],[3,4,5]]}",
	              &rq) == 0);
	CHECK(meter_request_estimate_input(&rq) >= 5);
}

TEST(meter_request_inspect_speech_input_characters)
{
	static const struct {
		const char *input; /* JSON string literal, quotes included */
		uint64_t chars;
	} v[] = {
	    {"\"hello\"", 5},
	    {"\"\"", 0},
	    {"\"h\xc3\xa9llo\"", 5},             /* UTF-8 two-byte */
	    {"\"\\u00e9t\\u00e9\"", 3},          /* escaped BMP */
	    {"\"\xf0\x9f\x98\x80!\"", 2},        /* UTF-8 four-byte */
	    {"\"\\ud83d\\ude00!\"", 2},          /* escaped surrogate pair */
	    {"\"a\\nb\\\"c\\\\\"", 6},           /* short escapes */
	    {"\"\xe6\x97\xa5\xe6\x9c\xac\"", 2}, /* CJK */
	};
	char body[256];
	struct meter_request rq;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(body, sizeof(body),
		         "{\"model\":\"tts-1\",\"voice\":\"alloy\","
		         "\"input\":%s}",
		         v[i].input);
		CHECK(inspect(METER_EP_AUDIO_SPEECH, body, &rq) == 0);
		if (rq.input_chars != v[i].chars)
			harness_fail(__FILE__, __LINE__, "%s: %llu chars",
			             v[i].input,
			             (unsigned long long)rq.input_chars);
		CHECK_STR(rq.model, "tts-1");
	}
	/* only speech counts characters; nested "input" is not it */
	CHECK(inspect(METER_EP_RESPONSES, "{\"input\":\"abc\"}", &rq) == 0);
	CHECK_U64(rq.input_chars, 0);
	CHECK(inspect(METER_EP_AUDIO_SPEECH, "{\"x\":{\"input\":\"abc\"}}",
	              &rq) == 0);
	CHECK_U64(rq.input_chars, 0);
}

TEST(meter_request_inspect_image_variant)
{
	struct meter_request rq;
	char v[40];

	CHECK(inspect(METER_EP_IMAGES_GENERATIONS,
	              "{\"model\":\"dall-e-3\",\"prompt\":\"p\","
	              "\"size\":\"1792x1024\",\"quality\":\"hd\",\"n\":1}",
	              &rq) == 0);
	meter_request_image_variant(&rq, v, sizeof(v));
	CHECK_STR(v, "hd/1792x1024");
	CHECK_STR(meter_request_image_model(&rq), "dall-e-3");
	CHECK(inspect(METER_EP_IMAGES_GENERATIONS,
	              "{\"prompt\":\"p\",\"quality\":\"standard\",\"n\":4}",
	              &rq) == 0);
	meter_request_image_variant(&rq, v, sizeof(v));
	CHECK_STR(v, "1024x1024");
	CHECK_STR(meter_request_image_model(&rq), "dall-e-2");
	CHECK_U64(rq.n, 4);
	/* a hostile size is cut to the field, never overflows it */
	CHECK(inspect(METER_EP_IMAGES_GENERATIONS,
	              "{\"size\":\"1024x1024xxxxxxxxxxxxxxxxxxxxxxxxx\"}",
	              &rq) == 0);
	CHECK(strlen(rq.size) < sizeof(rq.size));
}

/* Duplicate-call detection: layout does not change the hash, content
 * does (a value, a member name, nesting). */
TEST(meter_request_inspect_body_hash)
{
	struct meter_request a, b;
	const char *base = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":"
	                   "\"user\",\"content\":\"hi\"}],\"n\":1}";
	const char *spaced = "{ \"model\" : \"gpt-4o\",\n \"messages\": [ {"
	                     "\"role\":\"user\" , \"content\":\"hi\" } ] ,"
	                     "\"n\": 1 }";
	const char *other[] = {
	    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"ho\"}],\"n\":1}",
	    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"}],\"n\":2}",
	    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
	    "\"text\":\"hi\"}],\"n\":1}",
	    "{\"model\":\"gpt-4o\",\"messages\":[[{\"role\":\"user\","
	    "\"content\":\"hi\"}]],\"n\":1}",
	    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"}],\"n\":1.0}",
	};
	size_t i;

	CHECK(inspect(METER_EP_CHAT, base, &a) == 0);
	CHECK(a.body_hash != 0);
	CHECK(inspect(METER_EP_CHAT, spaced, &b) == 0);
	CHECK_U64(a.body_hash, b.body_hash);
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		CHECK(inspect(METER_EP_CHAT, other[i], &b) == 0);
		CHECK(a.body_hash != b.body_hash);
	}
	CHECK(inspect(METER_EP_CHAT, "", &b) == 0);
	CHECK_U64(b.body_hash, 0);
}
