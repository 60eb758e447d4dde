/*
 * tests/unit/test_meter_endpoint.c — meter/endpoint.c, request target and
 * method to endpoint.
 *
 * Covers every table entry with its method, with a query string, with
 * trailing slashes, with the wrong method, sub-resources of the prefix
 * entries, near misses (other versions, longer names), targets that are
 * not NUL-terminated at len, the stored names of every endpoint, and which
 * endpoints are metered.
 */
#include <string.h>

#include "meter/endpoint.h"
#include "tests/unit/harness.h"

static enum meter_endpoint
cls(const char *method, const char *target)
{
	return meter_endpoint_classify(method, target, strlen(target));
}

struct ep_case {
	const char *method, *target;
	enum meter_endpoint ep;
};

static void
check_cases(const struct ep_case *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		enum meter_endpoint got = cls(c[i].method, c[i].target);

		if (got != c[i].ep)
			harness_fail(__FILE__, __LINE__, "%s %s -> %s, want %s",
			             c[i].method, c[i].target,
			             meter_endpoint_name(got),
			             meter_endpoint_name(c[i].ep));
	}
}

TEST(meter_endpoint_classify_every_entry)
{
	static const struct ep_case c[] = {
	    {"POST", "/v1/chat/completions", METER_EP_CHAT},
	    {"POST", "/v1/completions", METER_EP_COMPLETIONS},
	    {"POST", "/v1/embeddings", METER_EP_EMBEDDINGS},
	    {"POST", "/v1/responses", METER_EP_RESPONSES},
	    {"GET", "/v1/responses/resp_123", METER_EP_RESPONSE_OBJECT},
	    {"DELETE", "/v1/responses/resp_123", METER_EP_RESPONSE_OBJECT},
	    {"POST", "/v1/responses/resp_123/cancel", METER_EP_RESPONSE_OBJECT},
	    {"GET", "/v1/responses/resp_123/input_items",
	     METER_EP_RESPONSE_OBJECT},
	    {"POST", "/v1/moderations", METER_EP_MODERATIONS},
	    {"POST", "/v1/audio/transcriptions", METER_EP_AUDIO_TRANSCRIPTIONS},
	    {"POST", "/v1/audio/translations", METER_EP_AUDIO_TRANSLATIONS},
	    {"POST", "/v1/audio/speech", METER_EP_AUDIO_SPEECH},
	    {"POST", "/v1/images/generations", METER_EP_IMAGES_GENERATIONS},
	    {"POST", "/v1/images/edits", METER_EP_IMAGES_EDITS},
	    {"POST", "/v1/images/variations", METER_EP_IMAGES_VARIATIONS},
	    {"POST", "/v1/batches", METER_EP_BATCHES},
	    {"GET", "/v1/batches", METER_EP_BATCHES},
	    {"GET", "/v1/batches/batch_1", METER_EP_BATCHES},
	    {"POST", "/v1/batches/batch_1/cancel", METER_EP_BATCHES},
	    {"POST", "/v1/files", METER_EP_FILES},
	    {"GET", "/v1/files", METER_EP_FILES},
	    {"GET", "/v1/files/file-1/content", METER_EP_FILES},
	    {"DELETE", "/v1/files/file-1", METER_EP_FILES},
	    {"GET", "/v1/models", METER_EP_MODELS},
	    {"GET", "/v1/models/gpt-4o-mini", METER_EP_MODELS},
	    {"GET", "/v1/models/ft:gpt-4o-mini-2024-07-18:acme::abc",
	     METER_EP_MODELS},
	};

	check_cases(c, sizeof(c) / sizeof(c[0]));
}

TEST(meter_endpoint_classify_query_string)
{
	static const struct ep_case c[] = {
	    {"POST", "/v1/chat/completions?api-version=1", METER_EP_CHAT},
	    {"POST", "/v1/chat/completions?", METER_EP_CHAT},
	    {"POST", "/v1/embeddings?a=/x&b=c", METER_EP_EMBEDDINGS},
	    {"GET", "/v1/responses/resp_1?stream=true&starting_after=4",
	     METER_EP_RESPONSE_OBJECT},
	    {"GET", "/v1/models?limit=10", METER_EP_MODELS},
	    /* the query is not part of the path */
	    {"POST", "/v1/chat?x=/completions", METER_EP_OTHER},
	    {"POST", "/v1?/chat/completions", METER_EP_OTHER},
	};

	check_cases(c, sizeof(c) / sizeof(c[0]));
}

TEST(meter_endpoint_classify_trailing_slash)
{
	static const struct ep_case c[] = {
	    {"POST", "/v1/chat/completions/", METER_EP_CHAT},
	    {"POST", "/v1/chat/completions//", METER_EP_CHAT},
	    {"POST", "/v1/chat/completions/?stream=1", METER_EP_CHAT},
	    {"POST", "/v1/responses/", METER_EP_RESPONSES},
	    {"GET", "/v1/models/", METER_EP_MODELS},
	    {"GET", "/v1/responses/resp_1/", METER_EP_RESPONSE_OBJECT},
	};

	check_cases(c, sizeof(c) / sizeof(c[0]));
}

TEST(meter_endpoint_classify_wrong_method)
{
	static const struct ep_case c[] = {
	    /* GET /v1/chat/completions lists stored completions */
	    {"GET", "/v1/chat/completions", METER_EP_OTHER},
	    {"PUT", "/v1/completions", METER_EP_OTHER},
	    {"GET", "/v1/embeddings", METER_EP_OTHER},
	    {"GET", "/v1/responses", METER_EP_OTHER},
	    {"DELETE", "/v1/moderations", METER_EP_OTHER},
	    {"GET", "/v1/audio/speech", METER_EP_OTHER},
	    {"GET", "/v1/images/generations", METER_EP_OTHER},
	    {"HEAD", "/v1/chat/completions", METER_EP_OTHER},
	};

	check_cases(c, sizeof(c) / sizeof(c[0]));
}

TEST(meter_endpoint_classify_near_misses)
{
	static const struct ep_case c[] = {
	    {"POST", "", METER_EP_OTHER},
	    {"POST", "/", METER_EP_OTHER},
	    {"POST", "/v1", METER_EP_OTHER},
	    {"POST", "/v1/", METER_EP_OTHER},
	    {"POST", "/v2/chat/completions", METER_EP_OTHER},
	    {"POST", "/chat/completions", METER_EP_OTHER},
	    {"POST", "/v1/chat/completionsX", METER_EP_OTHER},
	    {"POST", "/v1/chat/completions/extra", METER_EP_OTHER},
	    {"POST", "/v1/chat", METER_EP_OTHER},
	    {"POST", "/v1/responsesX", METER_EP_OTHER},
	    {"GET", "/v1/batchesfoo", METER_EP_OTHER},
	    {"GET", "/v1/modelsX/a", METER_EP_OTHER},
	    {"POST", "/v10/chat/completions", METER_EP_OTHER},
	    {"POST", "/v1x/chat/completions", METER_EP_OTHER},
	    {"POST", "/V1/chat/completions", METER_EP_OTHER},
	    {"POST", "/v1/Chat/Completions", METER_EP_OTHER},
	    {"POST", "/v1/threads", METER_EP_OTHER},
	    {"POST", "/v1/audio", METER_EP_OTHER},
	    {"POST", "/v1/images", METER_EP_OTHER},
	};

	check_cases(c, sizeof(c) / sizeof(c[0]));
}

TEST(meter_endpoint_classify_uses_len)
{
	/* The target is a slice of a larger buffer. */
	const char *buf = "/v1/embeddingsXYZ HTTP/1.1";

	CHECK(meter_endpoint_classify("POST", buf, 14) == METER_EP_EMBEDDINGS);
	CHECK(meter_endpoint_classify("POST", buf, 15) == METER_EP_OTHER);
	CHECK(meter_endpoint_classify("POST", "/v1/chat/completions?q", 20) ==
	      METER_EP_CHAT);
	CHECK(meter_endpoint_classify("POST", "/v1/chat/completions", 3) ==
	      METER_EP_OTHER);
	CHECK(meter_endpoint_classify("POST", "/v1/chat/completions", 0) ==
	      METER_EP_OTHER);
}

TEST(meter_endpoint_name_every_endpoint)
{
	static const struct {
		enum meter_endpoint ep;
		const char *name;
	} n[] = {
	    {METER_EP_OTHER, "other"},
	    {METER_EP_CHAT, "/v1/chat/completions"},
	    {METER_EP_COMPLETIONS, "/v1/completions"},
	    {METER_EP_EMBEDDINGS, "/v1/embeddings"},
	    {METER_EP_RESPONSES, "/v1/responses"},
	    {METER_EP_RESPONSE_OBJECT, "/v1/responses/{id}"},
	    {METER_EP_MODERATIONS, "/v1/moderations"},
	    {METER_EP_AUDIO_TRANSCRIPTIONS, "/v1/audio/transcriptions"},
	    {METER_EP_AUDIO_TRANSLATIONS, "/v1/audio/translations"},
	    {METER_EP_AUDIO_SPEECH, "/v1/audio/speech"},
	    {METER_EP_IMAGES_GENERATIONS, "/v1/images/generations"},
	    {METER_EP_IMAGES_EDITS, "/v1/images/edits"},
	    {METER_EP_IMAGES_VARIATIONS, "/v1/images/variations"},
	    {METER_EP_BATCHES, "/v1/batches"},
	    {METER_EP_FILES, "/v1/files"},
	    {METER_EP_MODELS, "/v1/models"},
	};
	size_t i;
	int ep;

	CHECK(sizeof(n) / sizeof(n[0]) == METER_EP_COUNT);
	for (i = 0; i < sizeof(n) / sizeof(n[0]); i++)
		CHECK_STR(meter_endpoint_name(n[i].ep), n[i].name);
	/* Every name is distinct and non-empty. */
	for (ep = 0; ep < METER_EP_COUNT; ep++) {
		int j;

		CHECK(meter_endpoint_name(ep) != NULL &&
		      meter_endpoint_name(ep)[0] != '\0');
		for (j = 0; j < ep; j++)
			CHECK(strcmp(meter_endpoint_name(ep),
			             meter_endpoint_name(j)) != 0);
	}
	CHECK_STR(meter_endpoint_name(METER_EP_COUNT), "other");
	CHECK_STR(meter_endpoint_name((enum meter_endpoint) - 1), "other");
	CHECK_STR(meter_endpoint_name((enum meter_endpoint)1000), "other");
}

TEST(meter_endpoint_name_round_trips)
{
	/* POSTing to an endpoint's stored name classifies as it. */
	static const enum meter_endpoint post[] = {
	    METER_EP_CHAT,
	    METER_EP_COMPLETIONS,
	    METER_EP_EMBEDDINGS,
	    METER_EP_RESPONSES,
	    METER_EP_MODERATIONS,
	    METER_EP_AUDIO_TRANSCRIPTIONS,
	    METER_EP_AUDIO_TRANSLATIONS,
	    METER_EP_AUDIO_SPEECH,
	    METER_EP_IMAGES_GENERATIONS,
	    METER_EP_IMAGES_EDITS,
	    METER_EP_IMAGES_VARIATIONS,
	    METER_EP_BATCHES,
	    METER_EP_FILES,
	};
	size_t i;

	for (i = 0; i < sizeof(post) / sizeof(post[0]); i++)
		CHECK(cls("POST", meter_endpoint_name(post[i])) == post[i]);
	CHECK(cls("GET", meter_endpoint_name(METER_EP_MODELS)) ==
	      METER_EP_MODELS);
}

TEST(meter_endpoint_metered_set)
{
	int ep;

	for (ep = 0; ep < METER_EP_COUNT; ep++) {
		int want = ep == METER_EP_CHAT || ep == METER_EP_COMPLETIONS ||
		           ep == METER_EP_EMBEDDINGS ||
		           ep == METER_EP_RESPONSES;

		if (ep == METER_EP_RESPONSE_OBJECT)
			continue; /* a GET of a finished response may carry
			             usage (wire §3.3): left to the design */
		if (meter_endpoint_metered(ep) != want)
			harness_fail(__FILE__, __LINE__, "metered(%s) != %d",
			             meter_endpoint_name(ep), want);
	}
}
