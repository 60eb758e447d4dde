/*
 * meter/price.c — price table loading, lookup and costing (see price.h).
 *
 * A table is immutable once loaded and may be shared by every worker; a
 * pricing_file reload builds a new one.  Owns its entries and strings.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "meter/price.h"

enum {
	C_INPUT,
	C_CACHED,
	C_OUTPUT,
	C_AUDIO_IN,
	C_AUDIO_OUT,
	C_IMAGE_IN,
	C_IMAGE_OUT,
	C_COUNT
};
enum { T_STANDARD, T_FLEX, T_PRIORITY, T_BATCH, T_COUNT };

static const char *const comp_names[C_COUNT] = {
    "input",        "cached_input", "output",      "audio_input",
    "audio_output", "image_input",  "image_output"};
static const char *const tier_names[T_COUNT] = {"standard", "flex", "priority",
                                                "batch"};

#define PRICE_MAX_IMAGE_VARIANTS 16 /* per_image keys per model */

/* Prices per unit (nano-USD per second, character or image). */
struct price_units {
	int has_second, has_character;
	uint64_t second, character;
	size_t nimages;
	struct {
		char key[40]; /* "1024x1024" or "hd/1024x1792" */
		uint64_t nanousd;
	} image[PRICE_MAX_IMAGE_VARIANTS];
};

struct price_rates {
	int present; /* this tier is in the table */
	int has[C_COUNT];
	uint64_t rate[C_COUNT]; /* nano-USD per 1M tokens */
};

struct price_entry {
	char *name;
	struct price_rates tier[T_COUNT];
	struct price_units units;
};

struct meter_prices {
	char version[64];
	size_t n;
	struct price_entry *e;
};

extern const char meter_prices_builtin[];
extern const uint64_t meter_prices_builtin_len;

int
meter_price_parse_decimal(const char *s, uint64_t *nano)
{
	uint64_t whole = 0, frac = 0;
	int digits = 0, fd = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		whole = whole * 10 + (uint64_t)(*s - '0');
		if (whole > UINT64_MAX / 1000000000ULL)
			return -1; /* would not fit in nano-units */
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, fd++, digits++) {
			if (fd == 9)
				return -1; /* finer than a nano-unit */
			frac = frac * 10 + (uint64_t)(*s - '0');
		}
	}
	if (*s != '\0' || digits == 0)
		return -1;
	while (fd++ < 9)
		frac *= 10;
	if (whole * 1000000000ULL > UINT64_MAX - frac)
		return -1;
	*nano = whole * 1000000000ULL + frac;
	return 0;
}

static int
price_rate(const cJSON *v, uint64_t *out)
{
	if (cJSON_IsString(v))
		return meter_price_parse_decimal(v->valuestring, out);
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 &&
	    v->valuedouble <= METER_PRICE_MAX_USD_PER_M) {
		/* Config-time conversion; costs are integer from here on. */
		*out = (uint64_t)llround(v->valuedouble * 1e9);
		return 0;
	}
	return -1;
}

static int
price_tier(const cJSON *obj, struct price_rates *r, const char *model,
           const char *tier, char *err, size_t errlen)
{
	const cJSON *it;
	int c;

	r->present = 1;
	cJSON_ArrayForEach(it, obj)
	{
		for (c = 0; c < C_COUNT; c++)
			if (strcmp(it->string, comp_names[c]) == 0)
				break;
		if (c == C_COUNT) {
			snprintf(err, errlen,
			         "model \"%s\"%s%s: unknown key "
			         "\"%s\" (known: input, cached_input, output, "
			         "audio_input, audio_output, image_input, "
			         "image_output, flex, priority, batch, "
			         "per_second, per_character, per_image)",
			         model, tier ? " " : "", tier ? tier : "",
			         it->string);
			return -1;
		}
		if (price_rate(it, &r->rate[c]) == -1 ||
		    r->rate[c] >
		        (uint64_t)METER_PRICE_MAX_USD_PER_M * 1000000000ULL) {
			snprintf(
			    err, errlen,
			    "model \"%s\": \"%s\" must be a "
			    "decimal string of USD per 1M tokens with at most "
			    "9 decimals, like \"2.50\"",
			    model, it->string);
			return -1;
		}
		r->has[c] = 1;
	}
	return 0;
}

/* One per-unit price (USD per second / character / image). */
static int
price_unit_rate(const cJSON *v, const char *model, const char *key,
                uint64_t *out, char *err, size_t errlen)
{
	if (price_rate(v, out) == 0 &&
	    *out <= (uint64_t)METER_PRICE_MAX_USD_PER_M * 1000000000ULL)
		return 0;
	snprintf(err, errlen,
	         "model \"%s\": \"%s\" must be a decimal string of USD per "
	         "unit with at most 9 decimals, like \"0.006\"",
	         model, key);
	return -1;
}

/* Takes per_second, per_character and per_image out of obj. */
static int
price_units_parse(cJSON *obj, struct price_units *u, const char *model,
                  char *err, size_t errlen)
{
	cJSON *v, *it;
	int rc = 0;

	if ((v = cJSON_DetachItemFromObject(obj, "per_second")) != NULL) {
		rc = price_unit_rate(v, model, "per_second", &u->second, err,
		                     errlen);
		u->has_second = 1;
		cJSON_Delete(v);
		if (rc == -1)
			return -1;
	}
	if ((v = cJSON_DetachItemFromObject(obj, "per_character")) != NULL) {
		rc = price_unit_rate(v, model, "per_character", &u->character,
		                     err, errlen);
		u->has_character = 1;
		cJSON_Delete(v);
		if (rc == -1)
			return -1;
	}
	if ((v = cJSON_DetachItemFromObject(obj, "per_image")) == NULL)
		return 0;
	if (!cJSON_IsObject(v) ||
	    cJSON_GetArraySize(v) > PRICE_MAX_IMAGE_VARIANTS) {
		snprintf(err, errlen,
		         "model \"%s\": \"per_image\" must be an object of at "
		         "most %d \"[quality/]WxH\": price entries",
		         model, PRICE_MAX_IMAGE_VARIANTS);
		cJSON_Delete(v);
		return -1;
	}
	cJSON_ArrayForEach(it, v)
	{
		if (strlen(it->string) >= sizeof(u->image[0].key) ||
		    price_unit_rate(it, model, it->string,
		                    &u->image[u->nimages].nanousd, err,
		                    errlen) == -1) {
			if (err[0] == '\0')
				snprintf(err, errlen,
				         "model \"%s\": per_image key \"%s\" "
				         "is too long",
				         model, it->string);
			rc = -1;
			break;
		}
		snprintf(u->image[u->nimages].key, sizeof(u->image[0].key),
		         "%s", it->string);
		u->nimages++;
	}
	cJSON_Delete(v);
	return rc;
}

static int
price_entry_parse(const cJSON *m, struct price_entry *e, char *err,
                  size_t errlen)
{
	cJSON *copy = cJSON_Duplicate(m, 1);
	const char *tiers[] = {NULL, "flex", "priority", "batch"};
	int t, rc = -1;

	if (copy == NULL || !cJSON_IsObject(m)) {
		snprintf(err, errlen, "model \"%s\": must be an object",
		         m->string);
		goto out;
	}
	for (t = T_FLEX; t < T_COUNT; t++) {
		cJSON *sub = cJSON_DetachItemFromObject(copy, tiers[t]);

		if (sub == NULL)
			continue;
		rc = cJSON_IsObject(sub)
		         ? price_tier(sub, &e->tier[t], m->string, tiers[t],
		                      err, errlen)
		         : -1;
		cJSON_Delete(sub);
		if (rc == -1) {
			if (err[0] == '\0')
				snprintf(err, errlen,
				         "model \"%s\": \"%s\" "
				         "must be an object",
				         m->string, tiers[t]);
			goto out;
		}
		rc = -1;
	}
	cJSON_DeleteItemFromObject(copy, "note");
	if (price_units_parse(copy, &e->units, m->string, err, errlen) == -1)
		goto out;
	if (price_tier(copy, &e->tier[T_STANDARD], m->string, NULL, err,
	               errlen) == -1)
		goto out;
	if (!e->tier[T_STANDARD].has[C_INPUT] && !e->units.has_second &&
	    !e->units.has_character && e->units.nimages == 0) {
		snprintf(err, errlen,
		         "model \"%s\": \"input\" (or a per_second, "
		         "per_character or per_image price) is required",
		         m->string);
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(copy);
	return rc;
}

static void
price_version(struct meter_prices *p, const cJSON *root, const char *json,
              size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");

	if (cJSON_IsString(v) && v->valuestring[0] != '\0')
		snprintf(p->version, sizeof(p->version), "%s", v->valuestring);
	else /* unversioned file: name it by its content */
		snprintf(p->version, sizeof(p->version), "file-%08lx",
		         crc32(0, (const unsigned char *)json, (uInt)len));
}

struct meter_prices *
meter_prices_load(const char *json, size_t len, char *err, size_t errlen)
{
	struct meter_prices *p = NULL;
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *models, *m;
	size_t i = 0;

	err[0] = '\0';
	if (root == NULL) {
		snprintf(err, errlen, "not valid JSON near byte %ld",
		         (long)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - json
		                                    : 0));
		goto fail;
	}
	models = cJSON_GetObjectItemCaseSensitive(root, "models");
	if (!cJSON_IsObject(models) || cJSON_GetArraySize(models) == 0 ||
	    cJSON_GetArraySize(models) > METER_PRICE_MAX_MODELS) {
		snprintf(err, errlen,
		         "\"models\" must be an object of 1 to %d "
		         "entries",
		         METER_PRICE_MAX_MODELS);
		goto fail;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->e = calloc((size_t)cJSON_GetArraySize(models),
	                   sizeof(*p->e))) == NULL)
		goto oom;
	cJSON_ArrayForEach(m, models)
	{
		struct price_entry *e = &p->e[i];

		if ((e->name = strdup(m->string)) == NULL)
			goto oom;
		p->n = ++i;
		if (price_entry_parse(m, e, err, errlen) == -1)
			goto fail;
	}
	price_version(p, root, json, len);
	cJSON_Delete(root);
	return p;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	cJSON_Delete(root);
	meter_prices_free(p);
	return NULL;
}

struct meter_prices *
meter_prices_load_builtin(char *err, size_t errlen)
{
	return meter_prices_load(meter_prices_builtin,
	                         (size_t)meter_prices_builtin_len, err, errlen);
}

void
meter_prices_free(struct meter_prices *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->e[i].name);
	free(p->e);
	free(p);
}

const char *
meter_prices_version(const struct meter_prices *p)
{
	return p->version;
}

size_t
meter_prices_count(const struct meter_prices *p)
{
	return p->n;
}

static const struct price_entry *
price_find(const struct meter_prices *p, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strlen(p->e[i].name) == len &&
		    memcmp(p->e[i].name, name, len) == 0)
			return &p->e[i];
	return NULL;
}

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Length of name without a -YYYY-MM-DD or -MMDD snapshot suffix. */
static size_t
price_alias_len(const char *s, size_t n)
{
	if (n > 11 && s[n - 11] == '-' && all_digits(s + n - 10, 4) &&
	    s[n - 6] == '-' && all_digits(s + n - 5, 2) && s[n - 3] == '-' &&
	    all_digits(s + n - 2, 2))
		return n - 11;
	if (n > 5 && s[n - 5] == '-' && all_digits(s + n - 4, 4))
		return n - 5;
	return n;
}

static const struct price_entry *
price_lookup(const struct meter_prices *p, const char *model)
{
	size_t n = strlen(model), k;
	const struct price_entry *e;
	int colons = 0;

	if ((e = price_find(p, model, n)) != NULL)
		return e;
	if (strncmp(model, "ft:", 3) == 0) {
		/* ft:BASE:org:suffix:id -> ft:BASE -> ft:ALIAS.  Fine-tunes
		 * cost more than their base: never fall back to base rates;
		 * without an ft: entry the model is unpriced. */
		for (k = n; k > 3 && colons < 3; k--)
			if (model[k - 1] == ':')
				colons++;
		if (colons == 3 && (e = price_find(p, model, k)) != NULL)
			return e;
		n = colons == 3 ? k : n;
		k = price_alias_len(model, n);
		return k != n ? price_find(p, model, k) : NULL;
	}
	k = price_alias_len(model, n);
	return k != n ? price_find(p, model, k) : NULL;
}

static int
price_tier_of(const struct price_entry *e, const char *service_tier)
{
	if (service_tier == NULL)
		return T_STANDARD;
	if ((strcmp(service_tier, "priority") == 0 ||
	     strcmp(service_tier, "fast") == 0) &&
	    e->tier[T_PRIORITY].present)
		return T_PRIORITY;
	if (strcmp(service_tier, "flex") == 0 && e->tier[T_FLEX].present)
		return T_FLEX;
	if (strcmp(service_tier, "batch") == 0)
		return T_BATCH; /* half the standard rates unless listed */
	return T_STANDARD;
}

/* A component's rate in tier t, falling back to the tier's (then the
 * standard) input or output rate when the table leaves it out. */
static uint64_t
price_rate_of(const struct price_entry *e, int t, int c)
{
	static const int fallback[C_COUNT] = {
	    C_INPUT, C_INPUT, C_OUTPUT, C_INPUT, C_OUTPUT, C_INPUT, C_OUTPUT};
	const struct price_rates *r = &e->tier[t];

	if (r->has[c])
		return r->rate[c];
	if (r->has[fallback[c]])
		return r->rate[fallback[c]];
	/* The Batch API bills half the standard rates (openai-wire.md §5). */
	if (t == T_BATCH)
		return (price_rate_of(e, T_STANDARD, c) + 1) / 2;
	return t != T_STANDARD ? price_rate_of(e, T_STANDARD, c) : 0;
}

static uint64_t
sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

int
meter_prices_cost(const struct meter_prices *p, const char *model,
                  const char *service_tier, const struct meter_usage *u,
                  struct meter_cost *out)
{
	const struct price_entry *e;
	unsigned __int128 sum;
	uint64_t audio_in, audio_out, image_in, image_out;
	int t;

	if (model == NULL || (e = price_lookup(p, model)) == NULL)
		return -1;
	t = price_tier_of(e, service_tier);
	/* Audio is carved out only where the table prices it apart. */
	audio_in =
	    e->tier[T_STANDARD].has[C_AUDIO_IN] ? u->audio_input_tokens : 0;
	audio_out =
	    e->tier[T_STANDARD].has[C_AUDIO_OUT] ? u->audio_output_tokens : 0;
	image_in =
	    e->tier[T_STANDARD].has[C_IMAGE_IN] ? u->image_input_tokens : 0;
	image_out =
	    e->tier[T_STANDARD].has[C_IMAGE_OUT] ? u->image_output_tokens : 0;
	sum = (unsigned __int128)sat_sub(
	          sat_sub(sat_sub(u->input_tokens, u->cached_input_tokens),
	                  audio_in),
	          image_in) *
	      price_rate_of(e, t, C_INPUT);
	sum += (unsigned __int128)image_in * price_rate_of(e, t, C_IMAGE_IN);
	sum += (unsigned __int128)image_out * price_rate_of(e, t, C_IMAGE_OUT);
	sum += (unsigned __int128)u->cached_input_tokens *
	       price_rate_of(e, t, C_CACHED);
	sum += (unsigned __int128)audio_in * price_rate_of(e, t, C_AUDIO_IN);
	sum += (unsigned __int128)sat_sub(sat_sub(u->output_tokens, audio_out),
	                                  image_out) *
	       price_rate_of(e, t, C_OUTPUT);
	sum += (unsigned __int128)audio_out * price_rate_of(e, t, C_AUDIO_OUT);
	/* nano-USD per 1M tokens x tokens / 1M, rounded half up. */
	sum = (sum + 500000) / 1000000;
	out->nanousd = sum > UINT64_MAX ? UINT64_MAX : (uint64_t)sum;
	out->matched = e->name;
	out->tier = tier_names[t];
	return 0;
}

int
meter_prices_unit_cost(const struct meter_prices *p, const char *model,
                       enum meter_unit unit, const char *variant,
                       uint64_t milli_units, struct meter_cost *out)
{
	const struct price_entry *e;
	uint64_t rate = 0;
	unsigned __int128 sum;
	size_t i;
	int found = 0;

	if (model == NULL || (e = price_lookup(p, model)) == NULL)
		return -1;
	if (unit == METER_UNIT_SECONDS && e->units.has_second)
		rate = e->units.second, found = 1;
	else if (unit == METER_UNIT_CHARACTERS && e->units.has_character)
		rate = e->units.character, found = 1;
	for (i = 0; unit == METER_UNIT_IMAGES && variant != NULL &&
	            i < e->units.nimages;
	     i++)
		if (strcmp(e->units.image[i].key, variant) == 0)
			rate = e->units.image[i].nanousd, found = 1;
	if (!found)
		return -1;
	/* nano-USD per unit x thousandths of units / 1000, half up. */
	sum = ((unsigned __int128)rate * milli_units + 500) / 1000;
	out->nanousd = sum > UINT64_MAX ? UINT64_MAX : (uint64_t)sum;
	out->matched = e->name;
	out->tier = tier_names[T_STANDARD];
	return 0;
}

void
meter_price_cents_text(uint64_t nanousd, char *buf, size_t cap)
{
	uint64_t cents = nanousd / 10000000; /* 1 cent = 1e7 nano-USD */

	snprintf(buf, cap, "%llu.%02u", (unsigned long long)(cents / 100),
	         (unsigned)(cents % 100));
}
