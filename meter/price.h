/*
 * meter/price.h — the price table and what a response cost.
 *
 * Prices are USD per 1M tokens in the table file, held as integer nano-USD
 * per 1M tokens, and costs come out as integer nano-USD, rounded half up
 * once per response.  No floating point touches money.
 */
#ifndef METER_PRICE_H
#define METER_PRICE_H

#include <stddef.h>
#include <stdint.h>

#include "meter/usage.h"

#define METER_PRICE_MAX_MODELS 4096       /* entries accepted from a table */
#define METER_PRICE_MAX_USD_PER_M 1000000 /* sanity cap on one rate */

struct meter_prices;

struct meter_cost {
	uint64_t nanousd;
	const char *matched; /* table key that priced it (owned by table) */
	const char *tier;    /* "standard", "flex" or "priority" */
};

/*
 * Parses a price table (JSON, see meter/prices.json and docs/pricing.md).
 * NULL on error with a message naming the entry and key in err.
 */
struct meter_prices *meter_prices_load(const char *json, size_t len, char *err,
                                       size_t errlen);

/* The table compiled into the binary. */
struct meter_prices *meter_prices_load_builtin(char *err, size_t errlen);

void meter_prices_free(struct meter_prices *p);

/* "version" of the table, stored with every row. */
const char *meter_prices_version(const struct meter_prices *p);
size_t meter_prices_count(const struct meter_prices *p);

/*
 * Prices usage for model at the response's service tier (NULL or "" =
 * standard; "priority"/"fast" and "flex" use those rates when the table has
 * them).  Lookup: exact name, then for "ft:BASE:org:suffix:id" "ft:BASE"
 * (never BASE itself), then the name without a -YYYY-MM-DD or -MMDD date
 * suffix.
 * 0 and *out filled, or -1 when no entry matches.
 */
int meter_prices_cost(const struct meter_prices *p, const char *model,
                      const char *service_tier, const struct meter_usage *u,
                      struct meter_cost *out);

/* Non-token units (openai-wire.md §8): whisper-1 by the second, tts-1 by
 * the character of input, dall-e by the image. */
enum meter_unit {
	METER_UNIT_SECONDS,
	METER_UNIT_CHARACTERS,
	METER_UNIT_IMAGES
};

/*
 * Prices milli_units thousandths of a unit of model (1500 = 1.5 s, or
 * 1.5 characters) at the table's per_second / per_character rate, or per
 * image at the per_image entry named variant ("1024x1024", or
 * "hd/1024x1792" where quality matters).  Same lookup as
 * meter_prices_cost.  0 and *out, or -1 when the model has no such price.
 * Token prices for the Batch API: meter_prices_cost with service tier
 * "batch" (the table's batch rates, else half the standard ones).
 */
int meter_prices_unit_cost(const struct meter_prices *p, const char *model,
                           enum meter_unit unit, const char *variant,
                           uint64_t milli_units, struct meter_cost *out);

/* Writes nano-USD as dollars and whole cents, "4.01", rounded down (a
 * message never shows more spent than was). */
void meter_price_cents_text(uint64_t nanousd, char *buf, size_t cap);

/* Parses "2.125" (or "2", ".5") as nano-units; -1 on anything else or
 * more than 9 fractional digits. */
int meter_price_parse_decimal(const char *s, uint64_t *nano);

#endif
