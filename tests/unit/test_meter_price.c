/*
 * tests/unit/test_meter_price.c — meter/price.c, the price table and what
 * a response cost.
 *
 * Covers: meter_price_parse_decimal (exact, at most 9 decimals, junk and
 * overflow rejected, out untouched on failure); the built-in table loads;
 * exact nano-USD costs worked out by hand in the comments; lookup of dated
 * snapshots (-YYYY-MM-DD and -MMDD), of gpt-4o-2024-05-13 which has its own
 * price, of fine-tuned "ft:BASE:org:suffix:id" names, and of unknown
 * models; service tiers priority / fast / flex with fallback to standard;
 * audio tokens priced apart only where the table says so; rounding half up
 * once per response; bad tables rejected with a message that names the
 * model and the key.
 *
 * Units: the table is USD per 1M tokens, held as nano-USD per 1M tokens;
 * cost = sum(tokens x rate) / 1M, in nano-USD (1 USD = 1e9 nano-USD).
 * So a rate of R USD/1M is R x 1000 nano-USD per token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/price.h"
#include "tests/unit/harness.h"

/* --- parse_decimal ---------------------------------------------------- */

TEST(meter_price_parse_decimal_valid)
{
	static const struct {
		const char *s;
		uint64_t nano;
	} ok[] = {
	    {"0", 0},
	    {"2", 2000000000ULL},
	    {"2.125", 2125000000ULL},
	    {".5", 500000000ULL},
	    {"0.075", 75000000ULL},
	    {"10.00", 10000000000ULL},
	    {"0.000000001", 1},
	    {"1.123456789", 1123456789ULL},
	    {"0.0000005", 500},
	    {"007.50", 7500000000ULL},
	    {"1000000", 1000000000000000ULL},
	    /* the largest value a uint64_t holds */
	    {"18446744073.709551615", UINT64_MAX},
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 77;

		if (meter_price_parse_decimal(ok[i].s, &v) != 0)
			harness_fail(__FILE__, __LINE__, "rejected \"%s\"",
			             ok[i].s);
		else if (v != ok[i].nano)
			harness_fail(__FILE__, __LINE__,
			             "\"%s\" -> %llu, want %llu", ok[i].s,
			             (unsigned long long)v,
			             (unsigned long long)ok[i].nano);
	}
}

TEST(meter_price_parse_decimal_rejects_junk)
{
	static const char *const bad[] = {
	    "",     ".",      "abc", "1.2.3",        "-1",
	    "+1",   "1e3",    " 1",  "1 ",           "1,5",
	    "0x10", "1.5USD", "$1",  "1.1234567891", "0.0000000001",
	    "NaN",  "inf",    "..5",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 77;

		if (meter_price_parse_decimal(bad[i], &v) != -1)
			harness_fail(__FILE__, __LINE__, "accepted \"%s\"",
			             bad[i]);
		CHECK_U64(v, 77); /* untouched on failure (STYLE.md §13) */
	}
}

TEST(meter_price_parse_decimal_rejects_overflow)
{
	/*
	 * Values past UINT64_MAX nano-units cannot be represented: -1, never
	 * a wrapped number.  Regression: a whole-part guard at 1e11 once let
	 * `whole * 1000000000` wrap, so "18446744074" parsed as 290448384
	 * (0.29 USD/1M).
	 */
	static const char *const big[] = {
	    "18446744074",  "18446744073.709551616", "99999999999",
	    "999999999999", "100000000000000000000",
	};
	size_t i;

	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		uint64_t v = 77;
		int rc = meter_price_parse_decimal(big[i], &v);

		if (rc != -1)
			harness_fail(__FILE__, __LINE__,
			             "\"%s\" accepted as %llu", big[i],
			             (unsigned long long)v);
	}
}

/* --- tables ----------------------------------------------------------- */

static struct meter_prices *
builtin(void)
{
	char err[256] = "";
	struct meter_prices *p = meter_prices_load_builtin(err, sizeof(err));

	if (p == NULL)
		harness_fail(__FILE__, __LINE__, "builtin: %s", err);
	return p;
}

static struct meter_usage
usage(uint64_t in, uint64_t cached, uint64_t out)
{
	struct meter_usage u;

	memset(&u, 0, sizeof(u));
	u.has_usage = 1;
	u.input_tokens = in;
	u.cached_input_tokens = cached;
	u.output_tokens = out;
	return u;
}

/* Costs model at tier and checks nano-USD, the matched key and tier. */
static void
check_cost(const struct meter_prices *p, const char *model, const char *tier,
           const struct meter_usage *u, uint64_t want, const char *want_key,
           const char *want_tier)
{
	struct meter_cost c;

	memset(&c, 0, sizeof(c));
	if (meter_prices_cost(p, model, tier, u, &c) != 0) {
		harness_fail(__FILE__, __LINE__, "no price for %s", model);
		return;
	}
	if (c.nanousd != want)
		harness_fail(
		    __FILE__, __LINE__, "%s/%s: %llu nano-USD, want %llu",
		    model, tier ? tier : "(null)",
		    (unsigned long long)c.nanousd, (unsigned long long)want);
	if (c.matched == NULL || strcmp(c.matched, want_key) != 0)
		harness_fail(__FILE__, __LINE__,
		             "%s matched \"%s\", want \"%s\"", model,
		             c.matched ? c.matched : "(null)", want_key);
	if (c.tier == NULL || strcmp(c.tier, want_tier) != 0)
		harness_fail(__FILE__, __LINE__, "%s tier \"%s\", want \"%s\"",
		             model, c.tier ? c.tier : "(null)", want_tier);
}

TEST(meter_prices_load_builtin_loads)
{
	struct meter_prices *p = builtin();

	if (p == NULL)
		return;
	CHECK(meter_prices_count(p) >= 40);
	CHECK(meter_prices_version(p) != NULL &&
	      meter_prices_version(p)[0] != '\0');
	meter_prices_free(p);
	meter_prices_free(NULL);
}

/*
 * gpt-4o-mini: input 0.15, cached 0.075, output 0.60 USD/1M.
 * 1000 input tokens of which 200 cached (OpenAI counts cached inside
 * prompt_tokens), 500 output:
 *   800 x 0.15  USD/1M = 800 x 150 nano = 120000
 *   200 x 0.075 USD/1M = 200 x  75 nano =  15000
 *   500 x 0.60  USD/1M = 500 x 600 nano = 300000
 *                                  total  435000 nano-USD ($0.000435)
 */
#define MINI_COST 435000ULL

TEST(meter_prices_cost_gpt_4o_mini)
{
	struct meter_prices *p = builtin();
	struct meter_usage u = usage(1000, 200, 500);

	if (p == NULL)
		return;
	check_cost(p, "gpt-4o-mini", NULL, &u, MINI_COST, "gpt-4o-mini",
	           "standard");
	check_cost(p, "gpt-4o-mini", "", &u, MINI_COST, "gpt-4o-mini",
	           "standard");
	check_cost(p, "gpt-4o-mini", "default", &u, MINI_COST, "gpt-4o-mini",
	           "standard");
	meter_prices_free(p);
}

TEST(meter_prices_cost_snapshot_lookup)
{
	struct meter_prices *p = builtin();
	struct meter_usage u = usage(1000, 200, 500), v = usage(1000, 0, 500);

	if (p == NULL)
		return;
	/* The response names the dated snapshot. */
	check_cost(p, "gpt-4o-mini-2024-07-18", NULL, &u, MINI_COST,
	           "gpt-4o-mini", "standard");
	/*
	 * gpt-4o-2024-05-13 is $5 / $15, not gpt-4o's $2.50 / $10:
	 *   1000 x 5000 + 500 x 15000 = 5000000 + 7500000 = 12500000
	 */
	check_cost(p, "gpt-4o-2024-05-13", NULL, &v, 12500000ULL,
	           "gpt-4o-2024-05-13", "standard");
	/* gpt-4o-2024-08-06 is gpt-4o: 1000 x 2500 + 500 x 10000 = 7500000 */
	check_cost(p, "gpt-4o-2024-08-06", NULL, &v, 7500000ULL, "gpt-4o",
	           "standard");
	/* -MMDD: gpt-3.5-turbo-0125 is gpt-3.5-turbo ($0.50 / $1.50):
	 *   1000 x 500 + 500 x 1500 = 500000 + 750000 = 1250000 */
	check_cost(p, "gpt-3.5-turbo-0125", NULL, &v, 1250000ULL,
	           "gpt-3.5-turbo", "standard");
	/* ... but gpt-3.5-turbo-1106 has its own entry ($1 / $2):
	 *   1000 x 1000 + 500 x 2000 = 2000000 */
	check_cost(p, "gpt-3.5-turbo-1106", NULL, &v, 2000000ULL,
	           "gpt-3.5-turbo-1106", "standard");
	meter_prices_free(p);
}

TEST(meter_prices_cost_fine_tuned)
{
	struct meter_prices *p = builtin();
	struct meter_usage u = usage(1000, 200, 500), v = usage(1000, 0, 500);

	if (p == NULL)
		return;
	/*
	 * ft:gpt-4o-mini-2024-07-18: 0.30 / cached 0.15 / 1.20:
	 *   800 x 300 + 200 x 150 + 500 x 1200 = 240000 + 30000 + 600000
	 *   = 870000
	 */
	check_cost(p, "ft:gpt-4o-mini-2024-07-18:acme:x:abc123", NULL, &u,
	           870000ULL, "ft:gpt-4o-mini-2024-07-18", "standard");
	check_cost(p, "ft:gpt-4o-mini-2024-07-18", NULL, &u, 870000ULL,
	           "ft:gpt-4o-mini-2024-07-18", "standard");
	/* No ft: entry for the base: unpriced, never the (cheaper) base
	 * model's rates. */
	{
		struct meter_cost c;

		CHECK(meter_prices_cost(p, "ft:gpt-3.5-turbo-1106:acme::abc123",
		                        NULL, &v, &c) == -1);
		CHECK(meter_prices_cost(p, "ft:o4-mini-2025-04-16:acme:x:y",
		                        NULL, &v, &c) == -1);
	}
	meter_prices_free(p);
}

TEST(meter_prices_cost_unknown_model)
{
	struct meter_prices *p = builtin();
	struct meter_usage u = usage(10, 0, 10);
	static const char *const unknown[] = {
	    "",
	    "foo",
	    "gpt-4o-min",
	    "gpt-4o-mini-",
	    "ft:",
	    "ft:unknown:a:b:c",
	    "text-embedding-4",
	    "GPT-4O",
	};
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		struct meter_cost c = {12345, "sentinel", "sentinel"};

		if (meter_prices_cost(p, unknown[i], NULL, &u, &c) != -1)
			harness_fail(__FILE__, __LINE__, "priced \"%s\" as %s",
			             unknown[i], c.matched);
		CHECK_U64(c.nanousd, 12345);
	}
	{
		struct meter_cost c;

		CHECK(meter_prices_cost(p, NULL, NULL, &u, &c) == -1);
	}
	meter_prices_free(p);
}

TEST(meter_prices_cost_service_tier)
{
	struct meter_prices *p = builtin();
	struct meter_usage u = usage(1000, 200, 500);

	if (p == NULL)
		return;
	/*
	 * gpt-4o-mini priority: 0.25 / cached 0.125 / 1.00:
	 *   800 x 250 + 200 x 125 + 500 x 1000 = 200000 + 25000 + 500000
	 *   = 725000
	 */
	check_cost(p, "gpt-4o-mini-2024-07-18", "priority", &u, 725000ULL,
	           "gpt-4o-mini", "priority");
	/* "fast" is reported for priority (wire §1.1, §9) */
	check_cost(p, "gpt-4o-mini", "fast", &u, 725000ULL, "gpt-4o-mini",
	           "priority");
	/* gpt-4o-mini has no flex rates: standard */
	check_cost(p, "gpt-4o-mini", "flex", &u, MINI_COST, "gpt-4o-mini",
	           "standard");
	/*
	 * o3 flex: 1.00 / cached 0.25 / 4.00:
	 *   800 x 1000 + 200 x 250 + 500 x 4000 = 800000 + 50000 + 2000000
	 *   = 2850000
	 */
	check_cost(p, "o3-2025-04-16", "flex", &u, 2850000ULL, "o3", "flex");
	/* o3 standard: 800 x 2000 + 200 x 500 + 500 x 8000 = 5700000 */
	check_cost(p, "o3", "default", &u, 5700000ULL, "o3", "standard");
	check_cost(p, "o3", "scale", &u, 5700000ULL, "o3", "standard");
	meter_prices_free(p);
}

TEST(meter_prices_cost_audio_tokens)
{
	struct meter_prices *p = builtin();
	struct meter_usage u = usage(1000, 0, 500);

	if (p == NULL)
		return;
	u.audio_input_tokens = 300;
	u.audio_output_tokens = 200;
	/*
	 * gpt-4o-audio-preview: text 2.50 / 10.00, audio 40.00 / 80.00.
	 * Input 1000 includes 300 audio; output 500 includes 200 audio:
	 *   700 x  2500 =  1750000   text in
	 *   300 x 40000 = 12000000   audio in
	 *   300 x 10000 =  3000000   text out
	 *   200 x 80000 = 16000000   audio out
	 *          total  32750000
	 */
	check_cost(p, "gpt-4o-audio-preview", NULL, &u, 32750000ULL,
	           "gpt-4o-audio-preview", "standard");
	check_cost(p, "gpt-4o-audio-preview-2024-12-17", NULL, &u, 32750000ULL,
	           "gpt-4o-audio-preview", "standard");
	/*
	 * A model without audio rates: every token at the text rate.
	 * gpt-4o-mini: 1000 x 150 + 500 x 600 = 150000 + 300000 = 450000
	 */
	check_cost(p, "gpt-4o-mini", NULL, &u, 450000ULL, "gpt-4o-mini",
	           "standard");
	meter_prices_free(p);
}

TEST(meter_prices_cost_embeddings_and_free_models)
{
	struct meter_prices *p = builtin();
	struct meter_usage u = usage(8, 0, 0);

	if (p == NULL)
		return;
	/* text-embedding-3-small 0.02 USD/1M: 8 x 20 = 160 */
	check_cost(p, "text-embedding-3-small", NULL, &u, 160ULL,
	           "text-embedding-3-small", "standard");
	check_cost(p, "omni-moderation-2024-09-26", NULL, &u, 0,
	           "omni-moderation-2024-09-26", "standard");
	meter_prices_free(p);
}

TEST(meter_prices_cost_rounds_half_up_once)
{
	/* 0.0000005 USD/1M = 500 nano-USD per 1M tokens = 0.0005 per token */
	static const char table[] =
	    "{\"version\":\"t1\",\"models\":{\"m\":{\"input\":\"0.0000005\","
	    "\"output\":\"0.0000005\"}}}";
	char err[256];
	struct meter_prices *p =
	    meter_prices_load(table, strlen(table), err, sizeof(err));
	struct meter_usage u;

	if (p == NULL) {
		harness_fail(__FILE__, __LINE__, "load: %s", err);
		return;
	}
	CHECK_STR(meter_prices_version(p), "t1");
	u = usage(1000, 0, 0); /* 0.5 -> 1 */
	check_cost(p, "m", NULL, &u, 1, "m", "standard");
	u = usage(999, 0, 0); /* 0.4995 -> 0 */
	check_cost(p, "m", NULL, &u, 0, "m", "standard");
	u = usage(3000, 0, 0); /* 1.5 -> 2 */
	check_cost(p, "m", NULL, &u, 2, "m", "standard");
	u = usage(2999, 0, 0); /* 1.4995 -> 1 */
	check_cost(p, "m", NULL, &u, 1, "m", "standard");
	/* 0.5 + 0.5 = 1.0: once per response, not per component (2) */
	u = usage(1000, 0, 1000);
	check_cost(p, "m", NULL, &u, 1, "m", "standard");
	/* 0.4 + 0.4 = 0.8 -> 1, where per-component rounding gives 0 */
	u = usage(800, 0, 800);
	check_cost(p, "m", NULL, &u, 1, "m", "standard");
	meter_prices_free(p);
}

TEST(meter_prices_cost_large_counts_exact)
{
	/* 10^12 tokens at $150 / 1M (o1-pro input): 10^12 x 150000 nano =
	 * 1.5e17 nano-USD, exact in integer arithmetic. */
	struct meter_prices *p = builtin();
	struct meter_usage u = usage(1000000000000ULL, 0, 0);

	if (p == NULL)
		return;
	check_cost(p, "o1-pro", NULL, &u, 150000000000000000ULL, "o1-pro",
	           "standard");
	meter_prices_free(p);
}

/* --- bad tables ------------------------------------------------------- */

/* Loads json; must fail with a message containing every needle. */
static void
check_bad_table(const char *json, const char *n1, const char *n2)
{
	char err[512];
	struct meter_prices *p;

	err[0] = '\0';
	p = meter_prices_load(json, strlen(json), err, sizeof(err));
	if (p != NULL) {
		harness_fail(__FILE__, __LINE__, "accepted: %s", json);
		meter_prices_free(p);
		return;
	}
	if (err[0] == '\0')
		harness_fail(__FILE__, __LINE__, "no message for %s", json);
	if (n1 != NULL && strstr(err, n1) == NULL)
		harness_fail(__FILE__, __LINE__, "\"%s\" does not name %s", err,
		             n1);
	if (n2 != NULL && strstr(err, n2) == NULL)
		harness_fail(__FILE__, __LINE__, "\"%s\" does not name %s", err,
		             n2);
}

TEST(meter_prices_load_rejects_bad_tables)
{
	check_bad_table("{\"models\":{\"ok\":{\"input\":\"1\"},"
	                "\"gpt-x\":{\"input\":\"1\",\"colour\":\"2\"}}}",
	                "gpt-x", "colour");
	check_bad_table("{\"models\":{\"gpt-y\":{\"output\":\"1\"}}}", "gpt-y",
	                "input");
	check_bad_table("{\"models\":{\"gpt-z\":{\"input\":\"1.5USD\"}}}",
	                "gpt-z", "input");
	check_bad_table("{\"models\":{\"gpt-z\":{\"input\":\"1\","
	                "\"output\":\"-2\"}}}",
	                "gpt-z", "output");
	check_bad_table("{\"models\":{\"gpt-z\":{\"input\":\"0.0000000001\"}}}",
	                "gpt-z", "input");
	check_bad_table("{\"models\":{\"m\":{\"input\":\"1\",\"priority\":"
	                "{\"inptu\":\"2\"}}}}",
	                "\"m\"", "inptu");
	check_bad_table("{\"models\":{\"m\":{\"input\":\"1\",\"flex\":"
	                "\"cheap\"}}}",
	                "\"m\"", "flex");
	check_bad_table("{\"models\":{\"m\":\"1.00\"}}", "\"m\"", NULL);
	/* over METER_PRICE_MAX_USD_PER_M */
	check_bad_table("{\"models\":{\"m\":{\"input\":\"1000001\"}}}", "\"m\"",
	                "input");
	/* not a table at all */
	check_bad_table("{\"models\":{}}", "models", NULL);
	check_bad_table("{\"version\":\"x\"}", "models", NULL);
	check_bad_table("[]", NULL, NULL);
	check_bad_table("{\"models\":", NULL, NULL);
	check_bad_table("", NULL, NULL);
}

TEST(meter_prices_load_rejects_overflowing_rate)
{
	/* "18446744074" USD/1M is far over METER_PRICE_MAX_USD_PER_M; it must
	 * not wrap around into a small valid rate (it once loaded as 0.29,
	 * see meter_price_parse_decimal_rejects_overflow). */
	check_bad_table("{\"models\":{\"m\":{\"input\":\"18446744074\"}}}",
	                "\"m\"", "input");
}

TEST(meter_prices_load_version)
{
	static const char t[] = "{\"models\":{\"m\":{\"input\":\"1\"}}}";
	char err[128];
	struct meter_prices *p =
	    meter_prices_load(t, strlen(t), err, sizeof(err));

	if (p == NULL) {
		harness_fail(__FILE__, __LINE__, "load: %s", err);
		return;
	}
	/* no "version": named after its content, stable */
	CHECK(meter_prices_version(p)[0] != '\0');
	CHECK_U64(meter_prices_count(p), 1);
	{
		struct meter_prices *q =
		    meter_prices_load(t, strlen(t), err, sizeof(err));

		CHECK(q != NULL);
		if (q != NULL)
			CHECK_STR(meter_prices_version(q),
			          meter_prices_version(p));
		meter_prices_free(q);
	}
	meter_prices_free(p);
}

/* --- units and the batch tier (issue 5) -------------------------------- */

TEST(meter_prices_unit_cost_seconds_characters_images)
{
	struct meter_prices *p = builtin();
	struct meter_cost c;

	if (p == NULL)
		return;
	/* whisper-1 $0.006/min = 100000 nano-USD per second: 9.4 s */
	CHECK(meter_prices_unit_cost(p, "whisper-1", METER_UNIT_SECONDS, NULL,
	                             9400, &c) == 0);
	CHECK_U64(c.nanousd, 940000);
	/* tts-1 $15 / 1M characters; tts-1-hd $30 */
	CHECK(meter_prices_unit_cost(p, "tts-1", METER_UNIT_CHARACTERS, NULL,
	                             1000 * 1000, &c) == 0);
	CHECK_U64(c.nanousd, 15000000);
	CHECK(meter_prices_unit_cost(p, "tts-1-hd-2024-11-01",
	                             METER_UNIT_CHARACTERS, NULL, 2000,
	                             &c) == 0);
	CHECK_U64(c.nanousd, 60000);
	/* dall-e-3: quality and size pick the price; n images */
	CHECK(meter_prices_unit_cost(p, "dall-e-3", METER_UNIT_IMAGES,
	                             "1024x1024", 1000, &c) == 0);
	CHECK_U64(c.nanousd, 40000000);
	CHECK(meter_prices_unit_cost(p, "dall-e-3", METER_UNIT_IMAGES,
	                             "hd/1792x1024", 1000, &c) == 0);
	CHECK_U64(c.nanousd, 120000000);
	CHECK(meter_prices_unit_cost(p, "dall-e-2", METER_UNIT_IMAGES,
	                             "256x256", 3000, &c) == 0);
	CHECK_U64(c.nanousd, 48000000);
	/* what the table does not price */
	CHECK(meter_prices_unit_cost(p, "dall-e-3", METER_UNIT_IMAGES,
	                             "640x480", 1000, &c) == -1);
	CHECK(meter_prices_unit_cost(p, "gpt-4o", METER_UNIT_SECONDS, NULL,
	                             1000, &c) == -1);
	CHECK(meter_prices_unit_cost(p, "tts-1", METER_UNIT_SECONDS, NULL, 1000,
	                             &c) == -1);
	CHECK(meter_prices_unit_cost(p, "no-such", METER_UNIT_CHARACTERS, NULL,
	                             1000, &c) == -1);
	/* huge counts saturate instead of wrapping */
	CHECK(meter_prices_unit_cost(p, "tts-1", METER_UNIT_CHARACTERS, NULL,
	                             UINT64_MAX, &c) == 0);
	CHECK(c.nanousd == UINT64_MAX);
	meter_prices_free(p);
}

TEST(meter_prices_batch_tier_is_half_unless_listed)
{
	static const char json[] =
	    "{\"version\":\"t\",\"models\":{"
	    "\"a\":{\"input\":\"2.50\",\"output\":\"10.00\"},"
	    "\"b\":{\"input\":\"2.50\",\"output\":\"10.00\","
	    "\"batch\":{\"input\":\"1.00\",\"output\":\"4.00\"}},"
	    "\"odd\":{\"input\":\"0.000000003\"}}}";
	char err[256];
	struct meter_prices *p =
	    meter_prices_load(json, sizeof(json) - 1, err, sizeof(err));
	struct meter_usage u;
	struct meter_cost c;

	CHECK(p != NULL);
	if (p == NULL)
		return;
	memset(&u, 0, sizeof(u));
	u.input_tokens = 1000000;
	u.output_tokens = 1000000;
	CHECK(meter_prices_cost(p, "a", "batch", &u, &c) == 0);
	CHECK_U64(c.nanousd, 6250000000ULL); /* (2.50 + 10.00) / 2 */
	CHECK_STR(c.tier, "batch");
	CHECK(meter_prices_cost(p, "b", "batch", &u, &c) == 0);
	CHECK_U64(c.nanousd, 5000000000ULL);
	/* 3 nano per 1M halves to 2 (rounded up), never to 0 */
	CHECK(meter_prices_cost(p, "odd", "batch", &u, &c) == 0);
	CHECK_U64(c.nanousd, 2);
	meter_prices_free(p);
}

TEST(meter_prices_load_rejects_bad_unit_prices)
{
	static const char *const bad[] = {
	    "{\"models\":{\"w\":{\"per_second\":\"x\"}}}",
	    "{\"models\":{\"w\":{\"per_image\":[]}}}",
	    "{\"models\":{\"w\":{\"per_image\":{\"1024x1024\":\"-1\"}}}}",
	    "{\"models\":{\"w\":{\"output\":\"1\"}}}",
	};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct meter_prices *p =
		    meter_prices_load(bad[i], strlen(bad[i]), err, sizeof(err));

		CHECK(p == NULL);
		CHECK(strstr(err, "\"w\"") != NULL);
		meter_prices_free(p);
	}
}

TEST(meter_prices_image_tokens_priced_apart)
{
	struct meter_prices *p = builtin();
	struct meter_usage u;
	struct meter_cost c;

	if (p == NULL)
		return;
	memset(&u, 0, sizeof(u));
	u.input_tokens = 50; /* 10 text + 40 image */
	u.image_input_tokens = 40;
	u.output_tokens = 4250;
	u.image_output_tokens = 4250;
	CHECK(meter_prices_cost(p, "gpt-image-1", NULL, &u, &c) == 0);
	/* $5 text in, $10 image in, $40 image out per 1M */
	CHECK_U64(c.nanousd, 10 * 5000 + 40 * 10000 + 4250 * 40000);
	/* a model without image rates prices them as text */
	CHECK(meter_prices_cost(p, "gpt-4o-mini", NULL, &u, &c) == 0);
	CHECK_U64(c.nanousd, 50 * 150 + 4250 * 600);
	meter_prices_free(p);
}
