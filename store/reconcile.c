/*
 * store/reconcile.c — provider rows and drift (see reconcile.h).
 *
 * Threads: the reconciler thread (or `tollgate reconcile --once`) owns a
 * struct store_recon (its own read-write connection) and the pulls it
 * fills; the admin thread reads reconciliation and reconcile_runs through
 * its store_reader.  Owns the tables provider_usage, provider_costs,
 * reconciliation and reconcile_runs (schema 4, store/store.c).
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/internal.h"
#include "store/reconcile.h"

#define RECON_BUSY_TIMEOUT_MS 5000
#define RECON_ROWS_START 256 /* first allocation of a row array */

struct store_recon {
	sqlite3 *db;
};

struct urow {
	enum store_recon_kind kind;
	int64_t start_s, end_s;
	char model[STORE_RECON_MAX_NAME];
	char project[STORE_RECON_MAX_NAME];
	int has_model, has_project;
	uint64_t requests, input, cached, output;
	double units;
};

struct crow {
	int64_t start_s, end_s;
	char line_item[STORE_RECON_MAX_NAME];
	char project[STORE_RECON_MAX_NAME];
	char currency[16];
	char quantity_unit[32];
	int has_line_item, has_project, has_quantity;
	double quantity;
	int64_t nanousd;
};

struct store_recon_pull {
	int64_t start_s, end_s;
	struct urow *u;
	size_t nu, capu;
	struct crow *c;
	size_t nc, capc;
	size_t skipped;
};

static const struct {
	const char *path;
	const char *object;     /* the result's "object" */
	const char *unit_field; /* images / characters / seconds */
	int tokens;             /* 2: in + cached + out, 1: input, 0: none */
} kinds[STORE_RECON_KINDS] = {
    {"usage/completions", "organization.usage.completions.result", NULL, 2},
    {"usage/embeddings", "organization.usage.embeddings.result", NULL, 1},
    {"usage/moderations", "organization.usage.moderations.result", NULL, 1},
    {"usage/images", "organization.usage.images.result", "images", 0},
    {"usage/audio_speeches", "organization.usage.audio_speeches.result",
     "characters", 0},
    {"usage/audio_transcriptions",
     "organization.usage.audio_transcriptions.result", "seconds", 0},
    {"costs", "organization.costs.result", NULL, 0},
};

const char *
store_recon_kind_path(enum store_recon_kind kind)
{
	return (unsigned)kind < STORE_RECON_KINDS ? kinds[kind].path : "?";
}

/* --- small parsers ------------------------------------------------------ */

static void
utc_day_s(int64_t s, char out[11])
{
	time_t t = (time_t)s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

/* An exact decimal "[-]digits[.digits]" as nano units, rounded half away
 * from zero past 9 decimals; -1 when s is not that form. */
static int
parse_plain_decimal(const char *s, int64_t *nano)
{
	const int64_t max_whole = 9000000000LL; /* 9e9 USD fits in int64 nano */
	int neg = 0, frac_digits = 0, any = 0;
	int64_t whole = 0, frac = 0;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	for (; isdigit((unsigned char)*s); s++, any = 1) {
		whole = whole * 10 + (*s - '0');
		if (whole > max_whole)
			return -1;
	}
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++, any = 1) {
			if (frac_digits < 9) {
				frac = frac * 10 + (*s - '0');
				frac_digits++;
			} else if (frac_digits == 9) {
				frac += *s >= '5'; /* round on the 10th digit */
				frac_digits++;
			}
		}
	}
	if (!any || *s != '\0')
		return -1;
	for (; frac_digits < 9; frac_digits++)
		frac *= 10;
	*nano = whole * 1000000000LL + frac;
	if (neg)
		*nano = -*nano;
	return 0;
}

int
store_recon_parse_usd(const char *s, int64_t *nano)
{
	char *end;
	double v;

	while (isspace((unsigned char)*s))
		s++;
	if (parse_plain_decimal(s, nano) == 0)
		return 0;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) ||
	    fabs(v) > 9e9)
		return -1;
	*nano = llround(v * 1e9);
	return 0;
}

void
store_recon_line_item_model(const char *line_item, char *out, size_t cap)
{
	const char *comma = strrchr(line_item, ',');
	size_t n = comma ? (size_t)(comma - line_item) : strlen(line_item);
	size_t i, k = 0;

	if (cap == 0)
		return;
	while (n > 0 && isspace((unsigned char)line_item[n - 1]))
		n--;
	for (i = 0; i < n && isspace((unsigned char)line_item[i]); i++)
		;
	for (; i < n && k + 1 < cap; i++)
		out[k++] = (char)tolower((unsigned char)line_item[i]);
	out[k] = '\0';
}

/* A count field: a non-negative integral number up to 2^53.  Absent or
 * null: 0 when optional.  0 / -1 with err. */
static int
get_count(const cJSON *o, const char *name, int required, uint64_t *out,
          char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*out = 0;
	if (v == NULL || cJSON_IsNull(v)) {
		if (!required)
			return 0;
		snprintf(err, errlen, "result without \"%s\"", name);
		return -1;
	}
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > STORE_RECON_MAX_COUNT ||
	    floor(v->valuedouble) != v->valuedouble) {
		snprintf(err, errlen,
		         "\"%s\" is not a count (a whole number >= 0)", name);
		return -1;
	}
	*out = (uint64_t)v->valuedouble;
	return 0;
}

/* A string-or-null field into buf; *has 0 for null or absent. */
static int
get_name(const cJSON *o, const char *name, char *buf, size_t cap, int *has,
         char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	buf[0] = '\0';
	*has = 0;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v)) {
		snprintf(err, errlen, "\"%s\" is not a string", name);
		return -1;
	}
	if (strlen(v->valuestring) >= cap) {
		snprintf(err, errlen, "\"%s\" is longer than %zu bytes", name,
		         cap - 1);
		return -1;
	}
	memcpy(buf, v->valuestring, strlen(v->valuestring) + 1);
	*has = 1;
	return 0;
}

/* --- the pull ----------------------------------------------------------- */

struct store_recon_pull *
store_recon_pull_new(int64_t start_s, int64_t end_s)
{
	struct store_recon_pull *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->start_s = start_s;
	p->end_s = end_s;
	return p;
}

void
store_recon_pull_free(struct store_recon_pull *p)
{
	if (p == NULL)
		return;
	free(p->u);
	free(p->c);
	free(p);
}

size_t
store_recon_pull_rows(const struct store_recon_pull *p)
{
	return p->nu + p->nc;
}

size_t
store_recon_pull_skipped(const struct store_recon_pull *p)
{
	return p->skipped;
}

/* Room for one more element in *arr (elements of size sz). */
static int
grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *q;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : RECON_ROWS_START;
	if ((q = realloc(*arr, ncap * sz)) == NULL)
		return -1;
	*arr = q;
	*cap = ncap;
	return 0;
}

static int
parse_usage_result(struct store_recon_pull *p, enum store_recon_kind kind,
                   const cJSON *r, int64_t start_s, int64_t end_s, char *err,
                   size_t errlen)
{
	struct urow u;
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(r, "object");
	const cJSON *uv;

	if (!cJSON_IsObject(r)) {
		snprintf(err, errlen, "a result is not an object");
		return -1;
	}
	if (obj != NULL &&
	    (!cJSON_IsString(obj) ||
	     strcmp(obj->valuestring, kinds[kind].object) != 0)) {
		snprintf(err, errlen, "result object is not \"%s\"",
		         kinds[kind].object);
		return -1;
	}
	memset(&u, 0, sizeof(u));
	u.kind = kind;
	u.start_s = start_s;
	u.end_s = end_s;
	if (get_count(r, "num_model_requests", 1, &u.requests, err, errlen) ==
	        -1 ||
	    (kinds[kind].tokens >= 1 &&
	     get_count(r, "input_tokens", 1, &u.input, err, errlen) == -1) ||
	    (kinds[kind].tokens == 2 &&
	     (get_count(r, "output_tokens", 1, &u.output, err, errlen) == -1 ||
	      get_count(r, "input_cached_tokens", 0, &u.cached, err, errlen) ==
	          -1)) ||
	    get_name(r, "model", u.model, sizeof(u.model), &u.has_model, err,
	             errlen) == -1 ||
	    get_name(r, "project_id", u.project, sizeof(u.project),
	             &u.has_project, err, errlen) == -1)
		return -1;
	if (kinds[kind].unit_field != NULL) {
		uv =
		    cJSON_GetObjectItemCaseSensitive(r, kinds[kind].unit_field);
		if (uv != NULL && !cJSON_IsNull(uv) &&
		    (!cJSON_IsNumber(uv) || !(uv->valuedouble >= 0) ||
		     uv->valuedouble > STORE_RECON_MAX_COUNT)) {
			snprintf(err, errlen, "\"%s\" is not a number >= 0",
			         kinds[kind].unit_field);
			return -1;
		}
		u.units = cJSON_IsNumber(uv) ? uv->valuedouble : 0;
	}
	if (p->nu + p->nc >= STORE_RECON_MAX_ROWS) {
		snprintf(err, errlen, "more than %d provider rows in one pass",
		         STORE_RECON_MAX_ROWS);
		return -1;
	}
	if (grow((void **)&p->u, &p->capu, p->nu, sizeof(u)) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->u[p->nu++] = u;
	return 0;
}

static int
parse_amount(const cJSON *r, struct crow *c, char *err, size_t errlen)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "amount");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "value");
	const cJSON *cur = cJSON_GetObjectItemCaseSensitive(a, "currency");

	if (!cJSON_IsObject(a) || v == NULL) {
		snprintf(err, errlen, "cost result without amount.value");
		return -1;
	}
	if (cJSON_IsNumber(v)) {
		if (!isfinite(v->valuedouble) || fabs(v->valuedouble) > 9e9)
			goto bad;
		c->nanousd = llround(v->valuedouble * 1e9);
	} else if (!cJSON_IsString(v) ||
	           store_recon_parse_usd(v->valuestring, &c->nanousd) == -1) {
		goto bad;
	}
	if (cJSON_IsString(cur))
		snprintf(c->currency, sizeof(c->currency), "%s",
		         cur->valuestring);
	return 0;
bad:
	snprintf(err, errlen, "amount.value is not a USD amount");
	return -1;
}

static int
parse_cost_result(struct store_recon_pull *p, const cJSON *r, int64_t start_s,
                  int64_t end_s, char *err, size_t errlen)
{
	struct crow c;
	const cJSON *q;
	int has_unit;

	if (!cJSON_IsObject(r)) {
		snprintf(err, errlen, "a result is not an object");
		return -1;
	}
	memset(&c, 0, sizeof(c));
	c.start_s = start_s;
	c.end_s = end_s;
	if (parse_amount(r, &c, err, errlen) == -1 ||
	    get_name(r, "line_item", c.line_item, sizeof(c.line_item),
	             &c.has_line_item, err, errlen) == -1 ||
	    get_name(r, "project_id", c.project, sizeof(c.project),
	             &c.has_project, err, errlen) == -1 ||
	    get_name(r, "quantity_unit", c.quantity_unit,
	             sizeof(c.quantity_unit), &has_unit, err, errlen) == -1)
		return -1;
	q = cJSON_GetObjectItemCaseSensitive(r, "quantity");
	if (cJSON_IsNumber(q) && isfinite(q->valuedouble)) {
		c.quantity = q->valuedouble;
		c.has_quantity = 1;
	}
	if (p->nu + p->nc >= STORE_RECON_MAX_ROWS) {
		snprintf(err, errlen, "more than %d provider rows in one pass",
		         STORE_RECON_MAX_ROWS);
		return -1;
	}
	if (grow((void **)&p->c, &p->capc, p->nc, sizeof(c)) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->c[p->nc++] = c;
	return 0;
}

static int
get_time(const cJSON *b, const char *name, int64_t *out, char *err,
         size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e11 ||
	    floor(v->valuedouble) != v->valuedouble) {
		snprintf(err, errlen, "bucket without a valid \"%s\"", name);
		return -1;
	}
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int
parse_bucket(struct store_recon_pull *p, enum store_recon_kind kind,
             const cJSON *b, char *err, size_t errlen)
{
	const cJSON *results = cJSON_GetObjectItemCaseSensitive(b, "results");
	const cJSON *r;
	int64_t start_s, end_s;

	if (!cJSON_IsObject(b) ||
	    get_time(b, "start_time", &start_s, err, errlen) == -1 ||
	    get_time(b, "end_time", &end_s, err, errlen) == -1)
		return -1;
	if (!cJSON_IsArray(results)) {
		snprintf(err, errlen, "bucket without a \"results\" array");
		return -1;
	}
	if (end_s <= start_s) {
		snprintf(err, errlen, "bucket ends before it starts");
		return -1;
	}
	/* Only what the pass deletes first may be written: anything else
	 * would be doubled by the next re-pull. */
	if (start_s < p->start_s || start_s >= p->end_s) {
		p->skipped++;
		return 0;
	}
	cJSON_ArrayForEach(r, results)
	{
		if ((kind == STORE_RECON_COSTS
		         ? parse_cost_result(p, r, start_s, end_s, err, errlen)
		         : parse_usage_result(p, kind, r, start_s, end_s, err,
		                              errlen)) == -1)
			return -1;
	}
	return 0;
}

static int
parse_envelope(const cJSON *root, int *has_more, char *next, size_t next_cap,
               char *err, size_t errlen)
{
	const cJSON *more = cJSON_GetObjectItemCaseSensitive(root, "has_more");
	const cJSON *np = cJSON_GetObjectItemCaseSensitive(root, "next_page");

	if (!cJSON_IsObject(root) ||
	    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "data"))) {
		snprintf(err, errlen, "not a page: no \"data\" array");
		return -1;
	}
	if (!cJSON_IsBool(more)) {
		snprintf(err, errlen, "page without \"has_more\"");
		return -1;
	}
	*has_more = cJSON_IsTrue(more);
	next[0] = '\0';
	if (cJSON_IsString(np)) {
		if (strlen(np->valuestring) > STORE_RECON_MAX_CURSOR ||
		    strlen(np->valuestring) >= next_cap) {
			snprintf(err, errlen, "next_page longer than %d bytes",
			         STORE_RECON_MAX_CURSOR);
			return -1;
		}
		memcpy(next, np->valuestring, strlen(np->valuestring) + 1);
	} else if (np != NULL && !cJSON_IsNull(np)) {
		snprintf(err, errlen, "next_page is not a string");
		return -1;
	}
	if (*has_more && next[0] == '\0') {
		snprintf(err, errlen, "has_more without a next_page cursor");
		return -1;
	}
	return 0;
}

int
store_recon_pull_page(struct store_recon_pull *p, enum store_recon_kind kind,
                      const char *json, size_t len, int *has_more, char *next,
                      size_t next_cap, char *err, size_t errlen)
{
	size_t nu = p->nu, nc = p->nc, skipped = p->skipped;
	cJSON *root = NULL;
	const cJSON *b;
	char inner[256];
	int more;
	int rc = -1;

	if ((unsigned)kind >= STORE_RECON_KINDS || next_cap == 0) {
		snprintf(err, errlen, "bad arguments");
		return -1;
	}
	if (len > STORE_RECON_MAX_PAGE_BYTES) {
		snprintf(err, errlen, "page larger than %d bytes",
		         STORE_RECON_MAX_PAGE_BYTES);
		return -1;
	}
	if ((root = cJSON_ParseWithLength(json, len)) == NULL) {
		snprintf(err, errlen, "%s: page is not JSON", kinds[kind].path);
		return -1;
	}
	if (parse_envelope(root, &more, next, next_cap, inner, sizeof(inner)) ==
	    -1)
		goto fail;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(root, "data"))
	{
		if (parse_bucket(p, kind, b, inner, sizeof(inner)) == -1)
			goto fail;
	}
	*has_more = more;
	rc = 0;
	goto cleanup;
fail:
	snprintf(err, errlen, "%s: %s", kinds[kind].path, inner);
	p->nu = nu;
	p->nc = nc;
	p->skipped = skipped;
	next[0] = '\0';
cleanup:
	cJSON_Delete(root);
	return rc;
}

/* --- connection ---------------------------------------------------------- */

struct store_recon *
store_recon_open(const char *path, char *err, size_t errlen)
{
	struct store_recon *rc = calloc(1, sizeof(*rc));
	char *msg = NULL;

	if (rc == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &rc->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		         rc->db ? sqlite3_errmsg(rc->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(rc->db, RECON_BUSY_TIMEOUT_MS);
	if (sqlite3_exec(rc->db, "PRAGMA journal_mode=WAL", NULL, NULL, &msg) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         msg ? msg : sqlite3_errmsg(rc->db));
		sqlite3_free(msg);
		goto fail;
	}
	return rc;
fail:
	store_recon_close(rc);
	return NULL;
}

void
store_recon_close(struct store_recon *rc)
{
	if (rc == NULL)
		return;
	sqlite3_close(rc->db);
	free(rc);
}

/* --- commit -------------------------------------------------------------- */

static void
bind_name(sqlite3_stmt *s, int i, const char *v, int has)
{
	if (has)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static sqlite3_int64
clamp64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

static int
write_usage(sqlite3 *db, const struct store_recon_pull *p, int64_t now_ms)
{
	static const char sql[] =
	    "INSERT INTO provider_usage(day, bucket_start, bucket_end,"
	    " endpoint, model, project_id, requests, input_tokens,"
	    " cached_input_tokens, output_tokens, units, unit_kind, pulled_ms)"
	    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s = NULL;
	char day[11];
	size_t i;
	int rc = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	for (i = 0; i < p->nu && rc == 0; i++) {
		const struct urow *u = &p->u[i];
		const char *unit = kinds[u->kind].unit_field;

		utc_day_s(u->start_s, day);
		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, day, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 2, u->start_s);
		sqlite3_bind_int64(s, 3, u->end_s);
		sqlite3_bind_text(s, 4, kinds[u->kind].path + 6, -1,
		                  SQLITE_STATIC);
		bind_name(s, 5, u->model, u->has_model);
		bind_name(s, 6, u->project, u->has_project);
		sqlite3_bind_int64(s, 7, clamp64(u->requests));
		sqlite3_bind_int64(s, 8, clamp64(u->input));
		sqlite3_bind_int64(s, 9, clamp64(u->cached));
		sqlite3_bind_int64(s, 10, clamp64(u->output));
		if (unit != NULL) {
			sqlite3_bind_double(s, 11, u->units);
			sqlite3_bind_text(s, 12, unit, -1, SQLITE_STATIC);
		} else {
			sqlite3_bind_null(s, 11);
			sqlite3_bind_null(s, 12);
		}
		sqlite3_bind_int64(s, 13, now_ms);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(s);
	return rc;
}

static int
write_costs(sqlite3 *db, const struct store_recon_pull *p, int64_t now_ms)
{
	static const char sql[] =
	    "INSERT INTO provider_costs(day, bucket_start, bucket_end,"
	    " line_item, model, project_id, amount_nanousd, currency,"
	    " quantity, quantity_unit, pulled_ms)"
	    " VALUES(?,?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s = NULL;
	char day[11], model[STORE_RECON_MAX_NAME];
	size_t i;
	int rc = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	for (i = 0; i < p->nc && rc == 0; i++) {
		const struct crow *c = &p->c[i];

		utc_day_s(c->start_s, day);
		store_recon_line_item_model(c->line_item, model, sizeof(model));
		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, day, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 2, c->start_s);
		sqlite3_bind_int64(s, 3, c->end_s);
		bind_name(s, 4, c->line_item, c->has_line_item);
		bind_name(s, 5, model, c->has_line_item);
		bind_name(s, 6, c->project, c->has_project);
		sqlite3_bind_int64(s, 7, c->nanousd);
		bind_name(s, 8, c->currency, c->currency[0] != '\0');
		if (c->has_quantity)
			sqlite3_bind_double(s, 9, c->quantity);
		else
			sqlite3_bind_null(s, 9);
		bind_name(s, 10, c->quantity_unit, c->quantity_unit[0] != '\0');
		sqlite3_bind_int64(s, 11, now_ms);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(s);
	return rc;
}

static int
write_map(sqlite3 *db, const struct store_recon_map *map, size_t nmap,
          char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	size_t i;
	int rc = 0;

	if (nmap > STORE_RECON_MAX_MAPPINGS) {
		snprintf(err, errlen, "more than %d workspace mappings",
		         STORE_RECON_MAX_MAPPINGS);
		return -1;
	}
	if (store_exec(db,
	               "CREATE TEMP TABLE IF NOT EXISTS recon_map("
	               " workspace TEXT PRIMARY KEY, project TEXT NOT NULL);"
	               "DELETE FROM temp.recon_map",
	               err, errlen) == -1)
		return -1;
	if (sqlite3_prepare_v2(db,
	                       "INSERT OR REPLACE INTO temp.recon_map"
	                       " VALUES(?,?)",
	                       -1, &s, NULL) != SQLITE_OK)
		goto fail;
	for (i = 0; i < nmap && rc == 0; i++) {
		if (map[i].project == NULL || map[i].project[0] == '\0')
			continue;
		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, map[i].workspace, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, map[i].project, -1, SQLITE_STATIC);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(s);
	if (rc == 0)
		return 0;
fail:
	snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	return -1;
}

/* Percent drift of provider against local; 0 = infinite. */
static int
drift(uint64_t local, uint64_t provider, double *pct)
{
	if (local == 0) {
		*pct = 0;
		return provider == 0;
	}
	*pct = ((double)provider - (double)local) * 100.0 / (double)local;
	return 1;
}

static int
drift_money(int64_t local, int64_t provider, double *pct)
{
	if (local == 0) {
		*pct = 0;
		return provider == 0;
	}
	*pct = ((double)provider - (double)local) * 100.0 / fabs((double)local);
	return 1;
}

/* Fills the drift fields and the flag of r from its two sides. */
static void
recon_judge(struct store_recon_row *r, double alert_pct)
{
	double d[4];
	int has[4], i, up = 0, down = 0;

	r->has_requests =
	    drift(r->local.requests, r->provider.requests, &r->drift_requests);
	r->has_input = drift(r->local.input_tokens, r->provider.input_tokens,
	                     &r->drift_input);
	r->has_output = drift(r->local.output_tokens, r->provider.output_tokens,
	                      &r->drift_output);
	r->has_cost = 0;
	r->drift_cost = 0;
	if (r->provider.has_cost)
		r->has_cost =
		    drift_money(r->local.cost_nanousd, r->provider.cost_nanousd,
		                &r->drift_cost);
	d[0] = r->drift_requests;
	has[0] = r->has_requests;
	d[1] = r->drift_input;
	has[1] = r->has_input;
	d[2] = r->drift_output;
	has[2] = r->has_output;
	d[3] = r->drift_cost;
	has[3] = r->has_cost;
	for (i = 0; i < 4; i++) {
		if (i == 3 && !r->provider.has_cost)
			continue; /* Costs has no verdict for the day yet */
		if (!has[i] || d[i] > alert_pct)
			up = 1;
		else if (d[i] < -alert_pct)
			down = 1;
	}
	snprintf(r->flag, sizeof(r->flag), "%s",
	         up     ? "bypass"
	         : down ? "overcount"
	                : "");
}

/* Local and provider sides per day x model x project over the window,
 * with the flag the row had and whether it was alerted. */
/* The local side, aggregated into a temp table before the write
 * transaction: the scan of requests never holds the database's write
 * lock, so the store writer is not kept waiting by it. */
static const char local_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS recon_loc(day TEXT, model TEXT,"
    " project TEXT, rq INTEGER, it INTEGER, ct INTEGER, ot INTEGER,"
    " c INTEGER);"
    "DELETE FROM temp.recon_loc;"
    "INSERT INTO temp.recon_loc"
    " SELECT date(ts_ms / 1000, 'unixepoch'), coalesce(model, ''),"
    "  coalesce((SELECT project FROM temp.recon_map m"
    "            WHERE m.workspace = r.workspace), ''),"
    "  count(*), sum(input_tokens), sum(cached_input_tokens),"
    "  sum(output_tokens), sum(cost_nanousd)"
    "  FROM requests r WHERE ts_ms >= ?1 * 1000 AND ts_ms < ?2 * 1000"
    "  AND forwarded = 1 AND (status < 400 OR input_tokens > 0"
    "  OR output_tokens > 0) GROUP BY 1, 2, 3";

/* Local and provider sides per day x model x project over the window,
 * with the flag the row had and whether it was alerted. */
static const char compare_sql[] =
    "WITH loc AS (SELECT * FROM temp.recon_loc),"
    " pu AS (SELECT day, coalesce(model, '') AS model,"
    "  CASE WHEN project_id IN (SELECT project FROM temp.recon_map)"
    "  THEN project_id ELSE '' END AS project,"
    "  sum(requests) AS rq, sum(input_tokens) AS it,"
    "  sum(cached_input_tokens) AS ct, sum(output_tokens) AS ot"
    "  FROM provider_usage WHERE bucket_start >= ?1 AND bucket_start < ?2"
    "  GROUP BY 1, 2, 3),"
    " pcr AS (SELECT day, coalesce(model, '') AS model,"
    "  CASE WHEN project_id IN (SELECT project FROM temp.recon_map)"
    "  THEN project_id ELSE '' END AS project, amount_nanousd"
    "  FROM provider_costs WHERE bucket_start >= ?1 AND bucket_start < ?2),"
    " pc AS (SELECT day, model, project, sum(amount_nanousd) AS c"
    "  FROM pcr GROUP BY 1, 2, 3),"
    " pd AS (SELECT DISTINCT day, project FROM pcr),"
    " k AS (SELECT day, model, project FROM loc UNION"
    "  SELECT day, model, project FROM pu UNION"
    "  SELECT day, model, project FROM pc)"
    " SELECT k.day, k.model, k.project,"
    "  coalesce(loc.rq, 0), coalesce(loc.it, 0), coalesce(loc.ct, 0),"
    "  coalesce(loc.ot, 0), coalesce(loc.c, 0),"
    "  coalesce(pu.rq, 0), coalesce(pu.it, 0), coalesce(pu.ct, 0),"
    "  coalesce(pu.ot, 0), coalesce(pc.c, 0), pd.day IS NOT NULL,"
    "  coalesce(o.flag, ''), coalesce(o.alerted, 0)"
    " FROM k LEFT JOIN loc USING(day, model, project)"
    " LEFT JOIN pu USING(day, model, project)"
    " LEFT JOIN pc USING(day, model, project)"
    " LEFT JOIN pd USING(day, project)"
    " LEFT JOIN reconciliation o USING(day, model, project)"
    " ORDER BY 1, 2, 3";

/* Runs local_sql (several statements; ?1 ?2 the window) on db. */
static int
aggregate_local(sqlite3 *db, const struct store_recon_pull *p)
{
	const char *sql = local_sql, *tail = NULL;
	sqlite3_stmt *s = NULL;
	int rc = 0;

	while (rc == 0 && sql != NULL && *sql != '\0') {
		if (sqlite3_prepare_v2(db, sql, -1, &s, &tail) != SQLITE_OK)
			return -1;
		if (s == NULL)
			break;
		if (sqlite3_bind_parameter_count(s) >= 2) {
			sqlite3_bind_int64(s, 1, p->start_s);
			sqlite3_bind_int64(s, 2, p->end_s);
		}
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
		sqlite3_finalize(s);
		sql = tail;
	}
	return rc;
}

struct judged {
	struct store_recon_row row;
	int alerted; /* stored */
	int fresh;   /* newly flagged: to alert after the commit */
};

struct judged_list {
	struct judged *v;
	size_t n, cap;
};

static void
copy_col(sqlite3_stmt *s, int i, char *buf, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

static void
row_from_compare(sqlite3_stmt *s, struct store_recon_row *r)
{
	memset(r, 0, sizeof(*r));
	copy_col(s, 0, r->day, sizeof(r->day));
	copy_col(s, 1, r->model, sizeof(r->model));
	copy_col(s, 2, r->project, sizeof(r->project));
	r->local.requests = (uint64_t)sqlite3_column_int64(s, 3);
	r->local.input_tokens = (uint64_t)sqlite3_column_int64(s, 4);
	r->local.cached_input_tokens = (uint64_t)sqlite3_column_int64(s, 5);
	r->local.output_tokens = (uint64_t)sqlite3_column_int64(s, 6);
	r->local.cost_nanousd = sqlite3_column_int64(s, 7);
	r->local.has_cost = 1;
	r->provider.requests = (uint64_t)sqlite3_column_int64(s, 8);
	r->provider.input_tokens = (uint64_t)sqlite3_column_int64(s, 9);
	r->provider.cached_input_tokens = (uint64_t)sqlite3_column_int64(s, 10);
	r->provider.output_tokens = (uint64_t)sqlite3_column_int64(s, 11);
	r->provider.cost_nanousd = sqlite3_column_int64(s, 12);
	r->provider.has_cost = sqlite3_column_int(s, 13);
}

static int
compare(sqlite3 *db, const struct store_recon_pull *p, double alert_pct,
        int alerting, struct judged_list *out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, compare_sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(s, 1, p->start_s);
	sqlite3_bind_int64(s, 2, p->end_s);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct judged *j;
		char old[12];

		if (grow((void **)&out->v, &out->cap, out->n,
		         sizeof(*out->v)) == -1) {
			rc = SQLITE_NOMEM;
			break;
		}
		j = &out->v[out->n++];
		memset(j, 0, sizeof(*j));
		row_from_compare(s, &j->row);
		recon_judge(&j->row, alert_pct);
		copy_col(s, 14, old, sizeof(old));
		j->alerted = strcmp(old, j->row.flag) == 0 &&
		             sqlite3_column_int(s, 15) != 0;
		if (alerting && j->row.flag[0] != '\0' && !j->alerted)
			j->alerted = j->fresh = 1;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
bind_pct(sqlite3_stmt *s, int i, double v, int has)
{
	if (has)
		sqlite3_bind_double(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

static int
write_recon(sqlite3 *db, const struct judged_list *l, int64_t now_ms)
{
	static const char sql[] =
	    "INSERT INTO reconciliation VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
	    "?,?,?,?)";
	sqlite3_stmt *s = NULL;
	size_t i;
	int rc = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	for (i = 0; i < l->n && rc == 0; i++) {
		const struct store_recon_row *r = &l->v[i].row;
		int k = 1;

		sqlite3_reset(s);
		sqlite3_bind_text(s, k++, r->day, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, k++, r->model, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, k++, r->project, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, k++, clamp64(r->local.requests));
		sqlite3_bind_int64(s, k++, clamp64(r->local.input_tokens));
		sqlite3_bind_int64(s, k++,
		                   clamp64(r->local.cached_input_tokens));
		sqlite3_bind_int64(s, k++, clamp64(r->local.output_tokens));
		sqlite3_bind_int64(s, k++, r->local.cost_nanousd);
		sqlite3_bind_int64(s, k++, clamp64(r->provider.requests));
		sqlite3_bind_int64(s, k++, clamp64(r->provider.input_tokens));
		sqlite3_bind_int64(s, k++,
		                   clamp64(r->provider.cached_input_tokens));
		sqlite3_bind_int64(s, k++, clamp64(r->provider.output_tokens));
		if (r->provider.has_cost)
			sqlite3_bind_int64(s, k++, r->provider.cost_nanousd);
		else
			sqlite3_bind_null(s, k++);
		bind_pct(s, k++, r->drift_requests, r->has_requests);
		bind_pct(s, k++, r->drift_input, r->has_input);
		bind_pct(s, k++, r->drift_output, r->has_output);
		bind_pct(s, k++, r->drift_cost, r->has_cost);
		bind_name(s, k++, r->flag, r->flag[0] != '\0');
		sqlite3_bind_int(s, k++, l->v[i].alerted);
		sqlite3_bind_int64(s, k++, now_ms);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(s);
	return rc;
}

/* Bumps reconcile_runs: ok (status NULL) or failed. */
static int
write_run(sqlite3 *db, int64_t now_ms, const char *failed, uint64_t bypass,
          uint64_t overcount)
{
	static const char sql[] =
	    "INSERT INTO reconcile_runs VALUES(1, ?1,"
	    " CASE WHEN ?2 IS NULL THEN ?1 END, coalesce(?2, 'ok'), 1,"
	    " ?2 IS NOT NULL, ?3, ?4)"
	    " ON CONFLICT(id) DO UPDATE SET last_run_ms = ?1,"
	    " last_ok_ms = CASE WHEN ?2 IS NULL THEN ?1 ELSE last_ok_ms END,"
	    " status = coalesce(?2, 'ok'), runs = runs + 1,"
	    " failures = failures + (?2 IS NOT NULL),"
	    " flags_bypass = flags_bypass + ?3,"
	    " flags_overcount = flags_overcount + ?4";
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(s, 1, now_ms);
	if (failed != NULL)
		sqlite3_bind_text(s, 2, failed, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	sqlite3_bind_int64(s, 3, clamp64(bypass));
	sqlite3_bind_int64(s, 4, clamp64(overcount));
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(s);
	return rc;
}

/* Deletes the window's provider rows (recon 0) or its days'
 * reconciliation rows (recon 1). */
static int
delete_window(sqlite3 *db, const struct store_recon_pull *p, int recon)
{
	static const char *const sql[] = {
	    "DELETE FROM provider_usage WHERE bucket_start >= ?1"
	    " AND bucket_start < ?2",
	    "DELETE FROM provider_costs WHERE bucket_start >= ?1"
	    " AND bucket_start < ?2",
	    "DELETE FROM reconciliation WHERE day >= date(?1, 'unixepoch')"
	    " AND day <= date(?2 - 1, 'unixepoch')",
	};
	sqlite3_stmt *s = NULL;
	size_t i;
	int rc = 0;

	for (i = recon ? 2 : 0; i < (recon ? 3u : 2u) && rc == 0; i++) {
		if (sqlite3_prepare_v2(db, sql[i], -1, &s, NULL) != SQLITE_OK)
			return -1;
		sqlite3_bind_int64(s, 1, p->start_s);
		sqlite3_bind_int64(s, 2, p->end_s);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
		sqlite3_finalize(s);
	}
	return rc;
}

int
store_recon_commit(struct store_recon *rc, const struct store_recon_pull *p,
                   const struct store_recon_map *map, size_t nmap,
                   double alert_pct, int64_t now_ms,
                   store_recon_flag_fn alert_fn, void *arg, char *err,
                   size_t errlen)
{
	struct judged_list l = {NULL, 0, 0};
	uint64_t nb = 0, no = 0;
	size_t i;
	int ret = -1;

	if (write_map(rc->db, map, nmap, err, errlen) == -1)
		return -1;
	if (aggregate_local(rc->db, p) == -1) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(rc->db));
		return -1;
	}
	if (store_exec(rc->db, "BEGIN IMMEDIATE", err, errlen) == -1)
		return -1;
	/* The provider rows first; the old reconciliation rows still
	 * there give each row's previous flag and alerted mark. */
	if (delete_window(rc->db, p, 0) == -1 ||
	    write_usage(rc->db, p, now_ms) == -1 ||
	    write_costs(rc->db, p, now_ms) == -1 ||
	    compare(rc->db, p, alert_pct, alert_fn != NULL, &l) == -1 ||
	    delete_window(rc->db, p, 1) == -1)
		goto dberr;
	for (i = 0; i < l.n; i++) {
		if (!l.v[i].fresh)
			continue;
		if (strcmp(l.v[i].row.flag, "bypass") == 0)
			nb++;
		else
			no++;
	}
	if (write_recon(rc->db, &l, now_ms) == -1 ||
	    write_run(rc->db, now_ms, NULL, nb, no) == -1)
		goto dberr;
	if (store_exec(rc->db, "COMMIT", err, errlen) == -1)
		goto rollback;
	for (i = 0; alert_fn != NULL && i < l.n; i++)
		if (l.v[i].fresh)
			alert_fn(arg, &l.v[i].row);
	ret = 0;
	goto cleanup;
dberr:
	snprintf(err, errlen, "%s", sqlite3_errmsg(rc->db));
rollback:
	sqlite3_exec(rc->db, "ROLLBACK", NULL, NULL, NULL);
cleanup:
	free(l.v);
	return ret;
}

int
store_recon_fail(struct store_recon *rc, int64_t now_ms, const char *why,
                 char *err, size_t errlen)
{
	char status[STORE_RECON_STATUS_MAX];

	snprintf(status, sizeof(status), "error: %s", why);
	if (write_run(rc->db, now_ms, status, 0, 0) == 0)
		return 0;
	snprintf(err, errlen, "%s", sqlite3_errmsg(rc->db));
	return -1;
}

/* --- reading ------------------------------------------------------------- */

static const char rows_sql[] =
    "SELECT day, model, project, local_requests, local_input_tokens,"
    " local_cached_input_tokens, local_output_tokens, local_cost_nanousd,"
    " provider_requests, provider_input_tokens,"
    " provider_cached_input_tokens, provider_output_tokens,"
    " provider_cost_nanousd, drift_requests_pct, drift_input_tokens_pct,"
    " drift_output_tokens_pct, drift_cost_pct, coalesce(flag, '')"
    " FROM reconciliation WHERE day >= ?1 AND day <= ?2"
    " AND (?3 IS NULL OR project = ?3) ORDER BY day, model, project"
    " LIMIT ?4";

static double
col_pct(sqlite3_stmt *s, int i, int *has)
{
	*has = sqlite3_column_type(s, i) != SQLITE_NULL;
	return *has ? sqlite3_column_double(s, i) : 0;
}

static void
row_from_stored(sqlite3_stmt *s, struct store_recon_row *r)
{
	memset(r, 0, sizeof(*r));
	copy_col(s, 0, r->day, sizeof(r->day));
	copy_col(s, 1, r->model, sizeof(r->model));
	copy_col(s, 2, r->project, sizeof(r->project));
	r->local.requests = (uint64_t)sqlite3_column_int64(s, 3);
	r->local.input_tokens = (uint64_t)sqlite3_column_int64(s, 4);
	r->local.cached_input_tokens = (uint64_t)sqlite3_column_int64(s, 5);
	r->local.output_tokens = (uint64_t)sqlite3_column_int64(s, 6);
	r->local.cost_nanousd = sqlite3_column_int64(s, 7);
	r->local.has_cost = 1;
	r->provider.requests = (uint64_t)sqlite3_column_int64(s, 8);
	r->provider.input_tokens = (uint64_t)sqlite3_column_int64(s, 9);
	r->provider.cached_input_tokens = (uint64_t)sqlite3_column_int64(s, 10);
	r->provider.output_tokens = (uint64_t)sqlite3_column_int64(s, 11);
	r->provider.has_cost = sqlite3_column_type(s, 12) != SQLITE_NULL;
	r->provider.cost_nanousd = sqlite3_column_int64(s, 12);
	r->drift_requests = col_pct(s, 13, &r->has_requests);
	r->drift_input = col_pct(s, 14, &r->has_input);
	r->drift_output = col_pct(s, 15, &r->has_output);
	r->drift_cost = col_pct(s, 16, &r->has_cost);
	copy_col(s, 17, r->flag, sizeof(r->flag));
}

static int
rows_on(sqlite3 *db, const char *from, const char *to, const char *project,
        size_t max, store_recon_row_fn fn, void *arg, char *err, size_t errlen)
{
	struct store_recon_row r;
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, rows_sql, -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
	bind_name(s, 3, project, project != NULL);
	sqlite3_bind_int64(s, 4, max ? (sqlite3_int64)max : -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		row_from_stored(s, &r);
		fn(arg, &r);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	return -1;
}

int
store_recon_rows(struct store_recon *rc, const char *from, const char *to,
                 const char *project, size_t max, store_recon_row_fn fn,
                 void *arg, char *err, size_t errlen)
{
	return rows_on(rc->db, from, to, project, max, fn, arg, err, errlen);
}

int
store_reader_recon_rows(struct store_reader *rd, const char *from,
                        const char *to, const char *project, size_t max,
                        store_recon_row_fn fn, void *arg, char *err,
                        size_t errlen)
{
	return rows_on(rd->db, from, to, project, max, fn, arg, err, errlen);
}

int
store_reader_recon_state(struct store_reader *rd, struct store_recon_state *st,
                         char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int rc;

	memset(st, 0, sizeof(*st));
	if (sqlite3_prepare_v2(rd->db,
	                       "SELECT last_run_ms, coalesce(last_ok_ms, 0),"
	                       " status, runs, failures, flags_bypass,"
	                       " flags_overcount FROM reconcile_runs"
	                       " WHERE id = 1",
	                       -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(rd->db));
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		st->last_run_ms = sqlite3_column_int64(s, 0);
		st->last_ok_ms = sqlite3_column_int64(s, 1);
		copy_col(s, 2, st->status, sizeof(st->status));
		st->runs = (uint64_t)sqlite3_column_int64(s, 3);
		st->failures = (uint64_t)sqlite3_column_int64(s, 4);
		st->flags_bypass = (uint64_t)sqlite3_column_int64(s, 5);
		st->flags_overcount = (uint64_t)sqlite3_column_int64(s, 6);
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	snprintf(err, errlen, "%s", sqlite3_errmsg(rd->db));
	return -1;
}
