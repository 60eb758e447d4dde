/*
 * meter/limit.c — rolling windows, calendar periods and reservations for
 * one workspace (see limit.h).  No locking, no clock of its own: the
 * caller passes now_ms and holds the workspace's lock.
 */
#include <stdio.h>
#include <string.h>

#include "meter/limit.h"

#define RING_MINUTE (METER_LIMIT_MINUTE_SLOTS + 1)
#define RING_DAY (METER_LIMIT_DAY_SLOTS + 1)
#define ASK_MAX_TOKENS 1000000000000ULL /* estimates are clamped here */

/* One ring: its totals, its slots and their geometry. */
struct ring {
	struct meter_limit_window *w;
	struct meter_limit_slot *slots;
	int64_t n;       /* live slots: the window */
	int64_t slot_ms; /* width of one */
};

static struct ring
ring_minute(struct meter_limit_state *s)
{
	struct ring r = {&s->minute, s->minute_slots, METER_LIMIT_MINUTE_SLOTS,
	                 METER_LIMIT_MINUTE_SLOT_MS};
	return r;
}

static struct ring
ring_day(struct meter_limit_state *s)
{
	struct ring r = {&s->day, s->day_slots, METER_LIMIT_DAY_SLOTS,
	                 METER_LIMIT_DAY_SLOT_MS};
	return r;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t
floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

static struct meter_limit_slot *
ring_slot(const struct ring *r, int64_t epoch)
{
	return &r->slots[floor_mod(epoch, r->n + 1)];
}

static void
ring_clear(const struct ring *r, int64_t epoch)
{
	struct meter_limit_slot *sl = ring_slot(r, epoch);

	if (sl->epoch != epoch)
		return;
	r->w->requests -= sl->requests;
	r->w->tokens -= sl->tokens;
	sl->epoch = -1;
	sl->requests = sl->tokens = 0;
}

static void
ring_init(const struct ring *r, int64_t now_ms)
{
	int64_t e;

	for (e = 0; e <= r->n; e++) {
		r->slots[e].epoch = -1;
		r->slots[e].requests = r->slots[e].tokens = 0;
	}
	r->w->requests = r->w->tokens = 0;
	r->w->head = floor_div(now_ms, r->slot_ms);
}

/* Moves the ring to now: slots older than the window are emptied. */
static void
ring_advance(const struct ring *r, int64_t now_ms)
{
	int64_t cur = floor_div(now_ms, r->slot_ms), e;

	if (cur <= r->w->head) {
		/* The clock stepped back by more than a slot (NTP, an
		 * operator): what the ring holds is dated in a future that
		 * would block the workspace for as long as the step.  Start
		 * the window afresh instead (briefly permissive). */
		if (cur < r->w->head - 1)
			ring_init(r, now_ms);
		return;
	}
	if (cur - r->w->head > r->n) {
		ring_init(r, now_ms);
	} else {
		for (e = r->w->head - r->n; e < cur - r->n; e++)
			ring_clear(r, e);
	}
	r->w->head = cur;
}

static int
ring_live(const struct ring *r, int64_t epoch)
{
	return epoch <= r->w->head && epoch >= r->w->head - r->n &&
	       ring_slot(r, epoch)->epoch == epoch;
}

static void
ring_add(const struct ring *r, int64_t epoch, uint64_t requests,
         uint64_t tokens)
{
	struct meter_limit_slot *sl = ring_slot(r, epoch);

	if (sl->epoch != epoch) {
		if (sl->epoch != -1)
			ring_clear(r, sl->epoch);
		sl->epoch = epoch;
		sl->requests = sl->tokens = 0;
	}
	sl->requests += requests;
	sl->tokens += tokens;
	r->w->requests += requests;
	r->w->tokens += tokens;
}

/* Corrects the tokens reserved in epoch's slot by delta (never below 0);
 * a slot that left the window takes nothing. */
static void
ring_correct(const struct ring *r, int64_t epoch, int64_t delta)
{
	struct meter_limit_slot *sl;
	uint64_t d;

	if (!ring_live(r, epoch) || delta == 0)
		return;
	sl = ring_slot(r, epoch);
	if (delta > 0) {
		sl->tokens += (uint64_t)delta;
		r->w->tokens += (uint64_t)delta;
		return;
	}
	d = (uint64_t)-delta;
	if (d > sl->tokens)
		d = sl->tokens;
	sl->tokens -= d;
	r->w->tokens -= d;
}

/* When the slot holding epoch leaves the window. */
static int64_t
ring_expiry_ms(const struct ring *r, int64_t epoch)
{
	return (epoch + r->n + 1) * r->slot_ms;
}

/*
 * How long until used - freed + need <= limit, walking the slots oldest
 * first; -1 when need alone is over the limit.
 */
static int64_t
ring_wait_ms(const struct ring *r, int tokens, uint64_t need, uint64_t limit,
             int64_t now_ms)
{
	uint64_t used = tokens ? r->w->tokens : r->w->requests;
	int64_t e;

	if (need > limit)
		return -1;
	for (e = r->w->head - r->n; e <= r->w->head; e++) {
		struct meter_limit_slot *sl = ring_slot(r, e);

		if (sl->epoch != e)
			continue;
		used -= tokens ? sl->tokens : sl->requests;
		if (used + need <= limit)
			return ring_expiry_ms(r, e) - now_ms;
	}
	return 0;
}

/* Until the window holds nothing of the given kind. */
static int64_t
ring_empty_ms(const struct ring *r, int tokens, int64_t now_ms)
{
	int64_t e;

	for (e = r->w->head; e >= r->w->head - r->n; e--) {
		struct meter_limit_slot *sl = ring_slot(r, e);

		if (sl->epoch == e && (tokens ? sl->tokens : sl->requests) > 0)
			return ring_expiry_ms(r, e) - now_ms;
	}
	return 0;
}

/* --- calendar (UTC, proleptic Gregorian; H. Hinnant's algorithms) ------ */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int64_t
meter_limit_day_index(int64_t ms)
{
	return floor_div(ms, METER_LIMIT_DAY_MS);
}

int64_t
meter_limit_month_index(int64_t ms)
{
	int64_t y;
	unsigned m, d;

	civil_from_days(meter_limit_day_index(ms), &y, &m, &d);
	return y * 12 + (int64_t)m - 1;
}

int64_t
meter_limit_next_day_ms(int64_t ms)
{
	return (meter_limit_day_index(ms) + 1) * METER_LIMIT_DAY_MS;
}

int64_t
meter_limit_next_month_ms(int64_t ms)
{
	int64_t y;
	unsigned m, d;

	civil_from_days(meter_limit_day_index(ms), &y, &m, &d);
	if (m == 12)
		y++, m = 1;
	else
		m++;
	return days_from_civil(y, m, 1) * METER_LIMIT_DAY_MS;
}

void
meter_limit_day_str(int64_t ms, char *buf, size_t cap)
{
	int64_t y;
	unsigned m, d;

	civil_from_days(meter_limit_day_index(ms), &y, &m, &d);
	snprintf(buf, cap, "%04lld-%02u-%02u", (long long)y, m, d);
}

void
meter_limit_month_str(int64_t ms, char *buf, size_t cap)
{
	int64_t y;
	unsigned m, d;

	civil_from_days(meter_limit_day_index(ms), &y, &m, &d);
	snprintf(buf, cap, "%04lld-%02u", (long long)y, m);
}

/* --- state ---------------------------------------------------------------- */

void
meter_limit_init(struct meter_limit_state *s, int64_t now_ms)
{
	struct ring m, d;

	memset(s, 0, sizeof(*s));
	m = ring_minute(s);
	d = ring_day(s);
	ring_init(&m, now_ms);
	ring_init(&d, now_ms);
	s->day_index = meter_limit_day_index(now_ms);
	s->month_index = meter_limit_month_index(now_ms);
}

void
meter_limit_roll(struct meter_limit_state *s, int64_t now_ms)
{
	int64_t day = meter_limit_day_index(now_ms);
	int64_t month = meter_limit_month_index(now_ms);

	if (day > s->day_index) {
		s->day_index = day;
		s->daily_spent = 0;
		s->daily_alerted = METER_LEVEL_NORMAL;
	}
	if (month > s->month_index) {
		s->month_index = month;
		s->monthly_spent = 0;
		s->monthly_alerted = METER_LEVEL_NORMAL;
	}
}

static void
advance(struct meter_limit_state *s, int64_t now_ms)
{
	struct ring m = ring_minute(s), d = ring_day(s);

	ring_advance(&m, now_ms);
	ring_advance(&d, now_ms);
	meter_limit_roll(s, now_ms);
}

enum meter_limit_level
meter_limit_level_of(uint64_t spent, uint64_t limit,
                     const struct meter_limits *l)
{
	unsigned __int128 x = (unsigned __int128)spent * 100;

	if (limit == 0)
		return METER_LEVEL_NORMAL;
	if (x >= (unsigned __int128)limit * METER_LIMIT_PCT_EXHAUSTED)
		return METER_LEVEL_EXHAUSTED;
	if (l->critical_pct > 0 &&
	    x >= (unsigned __int128)limit * l->critical_pct)
		return METER_LEVEL_CRITICAL;
	if (l->warn_pct > 0 && x >= (unsigned __int128)limit * l->warn_pct)
		return METER_LEVEL_WARNING;
	return METER_LEVEL_NORMAL;
}

/* A budget with limit that spent + reservations + ask would pass. */
static int
budget_refuses(const struct meter_limit_state *s, uint64_t spent,
               uint64_t limit, uint64_t ask)
{
	unsigned __int128 used = (unsigned __int128)spent + s->reserved_nanousd;

	return limit > 0 && (used >= limit || used + ask > limit);
}

static int
check_budgets(const struct meter_limit_state *s, const struct meter_limits *l,
              const struct meter_limit_ask *ask, int64_t now_ms,
              struct meter_limit_verdict *v)
{
	if (budget_refuses(s, s->monthly_spent, l->monthly_nanousd,
	                   ask->nanousd)) {
		v->hit = METER_LIMIT_MONTHLY_USD;
		v->limit = l->monthly_nanousd;
		v->used = s->monthly_spent + s->reserved_nanousd;
		v->reset_ms = meter_limit_next_month_ms(now_ms);
	} else if (budget_refuses(s, s->daily_spent, l->daily_nanousd,
	                          ask->nanousd)) {
		v->hit = METER_LIMIT_DAILY_USD;
		v->limit = l->daily_nanousd;
		v->used = s->daily_spent + s->reserved_nanousd;
		v->reset_ms = meter_limit_next_day_ms(now_ms);
	} else {
		return 0;
	}
	v->budget = 1;
	v->never = ask->nanousd > v->limit;
	v->retry_ms = v->reset_ms - now_ms;
	return -1;
}

/* One rate limit: notes it in *v when it refuses and frees later than
 * what *v already names (a limit the request can never meet wins). */
static void
check_rate(const struct ring *r, int tokens, uint64_t need, uint64_t limit,
           enum meter_limit_kind kind, int64_t now_ms,
           struct meter_limit_verdict *v)
{
	uint64_t used = tokens ? r->w->tokens : r->w->requests;
	int64_t wait;

	if (limit == 0 || (tokens && need == 0) || used + need <= limit)
		return;
	wait = ring_wait_ms(r, tokens, need, limit, now_ms);
	if (v->hit != METER_LIMIT_NONE &&
	    (v->never || (wait != -1 && wait <= v->retry_ms)))
		return;
	v->hit = kind;
	v->never = wait == -1;
	v->retry_ms = wait == -1 ? 0 : wait;
	v->reset_ms = now_ms + v->retry_ms;
	v->limit = limit;
	v->used = used;
}

int
meter_limit_admit(struct meter_limit_state *s, const struct meter_limits *l,
                  const struct meter_limit_ask *ask, int64_t now_ms,
                  struct meter_limit_ticket *t, struct meter_limit_verdict *v)
{
	struct ring m = ring_minute(s), d = ring_day(s);
	struct meter_limit_verdict rv;

	advance(s, now_ms);
	memset(&rv, 0, sizeof(rv));
	if (check_budgets(s, l, ask, now_ms, &rv) == 0) {
		check_rate(&d, 0, 1, l->rpd, METER_LIMIT_RPD, now_ms, &rv);
		check_rate(&d, 1, ask->tokens, l->tpd, METER_LIMIT_TPD, now_ms,
		           &rv);
		check_rate(&m, 0, 1, l->rpm, METER_LIMIT_RPM, now_ms, &rv);
		check_rate(&m, 1, ask->tokens, l->tpm, METER_LIMIT_TPM, now_ms,
		           &rv);
	}
	if (rv.hit != METER_LIMIT_NONE) {
		*v = rv;
		return -1;
	}
	ring_add(&m, m.w->head, 1, ask->tokens);
	ring_add(&d, d.w->head, 1, ask->tokens);
	s->reserved_nanousd += ask->nanousd;
	s->reserved_tokens += ask->tokens;
	s->inflight++;
	memset(t, 0, sizeof(*t));
	t->active = 1;
	t->minute_epoch = m.w->head;
	t->day_epoch = d.w->head;
	t->day_index = s->day_index;
	t->month_index = s->month_index;
	t->tokens = ask->tokens;
	t->nanousd = ask->nanousd;
	return 0;
}

static uint64_t
sub_floor0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static void
note_crossings(struct meter_limit_state *s, const struct meter_limits *l,
               struct meter_limit_crossing *x)
{
	enum meter_limit_level dl =
	    meter_limit_level_of(s->daily_spent, l->daily_nanousd, l);
	enum meter_limit_level ml =
	    meter_limit_level_of(s->monthly_spent, l->monthly_nanousd, l);

	memset(x, 0, sizeof(*x));
	x->day_index = s->day_index;
	x->month_index = s->month_index;
	x->daily_spent = s->daily_spent;
	x->monthly_spent = s->monthly_spent;
	if (dl > s->daily_alerted)
		x->daily = s->daily_alerted = dl;
	if (ml > s->monthly_alerted)
		x->monthly = s->monthly_alerted = ml;
}

void
meter_limit_settle(struct meter_limit_state *s, const struct meter_limits *l,
                   struct meter_limit_ticket *t, uint64_t tokens,
                   uint64_t nanousd, int64_t now_ms,
                   struct meter_limit_crossing *x)
{
	struct ring m = ring_minute(s), d = ring_day(s);
	int64_t delta;

	memset(x, 0, sizeof(*x));
	if (!t->active)
		return;
	t->active = 0;
	advance(s, now_ms);
	if (tokens > ASK_MAX_TOKENS)
		tokens = ASK_MAX_TOKENS;
	delta = (int64_t)tokens - (int64_t)t->tokens;
	ring_correct(&m, t->minute_epoch, delta);
	ring_correct(&d, t->day_epoch, delta);
	s->reserved_nanousd = sub_floor0(s->reserved_nanousd, t->nanousd);
	s->reserved_tokens = sub_floor0(s->reserved_tokens, t->tokens);
	s->inflight = sub_floor0(s->inflight, 1);
	if (t->day_index == s->day_index)
		s->daily_spent += nanousd;
	if (t->month_index == s->month_index)
		s->monthly_spent += nanousd;
	note_crossings(s, l, x);
}

void
meter_limit_charge(struct meter_limit_state *s, const struct meter_limits *l,
                   uint64_t nanousd, int64_t now_ms,
                   struct meter_limit_crossing *x)
{
	memset(x, 0, sizeof(*x));
	advance(s, now_ms);
	s->daily_spent += nanousd;
	s->monthly_spent += nanousd;
	note_crossings(s, l, x);
}

static void
view_one(const struct ring *r, int tokens, uint64_t limit, int64_t now_ms,
         uint64_t *lim, uint64_t *rem, int64_t *reset)
{
	uint64_t used = tokens ? r->w->tokens : r->w->requests;

	*lim = limit;
	*rem = sub_floor0(limit, used);
	*reset = ring_empty_ms(r, tokens, now_ms);
}

void
meter_limit_view(struct meter_limit_state *s, const struct meter_limits *l,
                 int64_t now_ms, struct meter_limit_view *out)
{
	struct ring m = ring_minute(s), d = ring_day(s);

	advance(s, now_ms);
	memset(out, 0, sizeof(*out));
	if (l->rpm > 0 || l->rpd > 0) {
		out->has_requests = 1;
		view_one(l->rpm > 0 ? &m : &d, 0, l->rpm > 0 ? l->rpm : l->rpd,
		         now_ms, &out->limit_requests, &out->remaining_requests,
		         &out->reset_requests_ms);
	}
	if (l->tpm > 0 || l->tpd > 0) {
		out->has_tokens = 1;
		view_one(l->tpm > 0 ? &m : &d, 1, l->tpm > 0 ? l->tpm : l->tpd,
		         now_ms, &out->limit_tokens, &out->remaining_tokens,
		         &out->reset_tokens_ms);
	}
}

void
meter_limit_used(struct meter_limit_state *s, int64_t now_ms, uint64_t *rpm,
                 uint64_t *rpd, uint64_t *tpm, uint64_t *tpd)
{
	advance(s, now_ms);
	*rpm = s->minute.requests;
	*tpm = s->minute.tokens;
	*rpd = s->day.requests;
	*tpd = s->day.tokens;
}

void
meter_limit_load_usage(struct meter_limit_state *s, int day, int64_t ts_ms,
                       uint64_t requests, uint64_t tokens, int64_t now_ms)
{
	struct ring r = day ? ring_day(s) : ring_minute(s);
	int64_t e = floor_div(ts_ms, r.slot_ms);

	advance(s, now_ms);
	if (e <= r.w->head && e >= r.w->head - r.n)
		ring_add(&r, e, requests, tokens);
}

void
meter_limit_load_spend(struct meter_limit_state *s,
                       const struct meter_limits *l, uint64_t daily,
                       uint64_t monthly, int64_t now_ms)
{
	advance(s, now_ms);
	s->daily_spent += daily;
	s->monthly_spent += monthly;
	s->daily_alerted =
	    meter_limit_level_of(s->daily_spent, l->daily_nanousd, l);
	s->monthly_alerted =
	    meter_limit_level_of(s->monthly_spent, l->monthly_nanousd, l);
}

void
meter_limit_relimit(struct meter_limit_state *s, const struct meter_limits *l)
{
	enum meter_limit_level d =
	    meter_limit_level_of(s->daily_spent, l->daily_nanousd, l);
	enum meter_limit_level m =
	    meter_limit_level_of(s->monthly_spent, l->monthly_nanousd, l);

	if (d < s->daily_alerted)
		s->daily_alerted = d;
	if (m < s->monthly_alerted)
		s->monthly_alerted = m;
}

/* --- the estimate ------------------------------------------------------ */

static uint64_t
sat_mul(uint64_t a, uint64_t b)
{
	if (a != 0 && b > ASK_MAX_TOKENS / a)
		return ASK_MAX_TOKENS;
	return a * b;
}

/*
 * Output image tokens of one GPT-image picture by quality and size
 * (OpenAI's image-generation guide: 1024x1024 low 272, medium 1056, high
 * 4160; the tall and wide sizes about 1.5 times that).  "auto" and
 * anything unknown reserve as high, so a budget is never under-reserved.
 */
static uint64_t
gpt_image_tokens(const struct meter_request *rq)
{
	int big = rq->size[0] != '\0' && strcmp(rq->size, "1024x1024") != 0;

	if (strcmp(rq->quality, "low") == 0)
		return big ? 408 : 272;
	if (strcmp(rq->quality, "medium") == 0)
		return big ? 1584 : 1056;
	return big ? 6240 : 4160;
}

static void
ask_images(const struct meter_prices *p, const struct meter_request *rq,
           struct meter_limit_ask *ask)
{
	struct meter_usage u;
	struct meter_cost c;
	char variant[40];
	const char *model = meter_request_image_model(rq);

	meter_request_image_variant(rq, variant, sizeof(variant));
	if (meter_prices_unit_cost(p, model, METER_UNIT_IMAGES, variant,
	                           sat_mul(rq->n, 1000), &c) == 0) {
		ask->nanousd = c.nanousd;
		return;
	}
	/* GPT-image models are billed by tokens known only afterwards */
	memset(&u, 0, sizeof(u));
	u.input_tokens = meter_request_estimate_input(rq);
	u.output_tokens = sat_mul(gpt_image_tokens(rq), rq->n > 0 ? rq->n : 1);
	u.image_output_tokens = u.output_tokens;
	ask->tokens = u.input_tokens + u.output_tokens;
	if (meter_prices_cost(p, model, NULL, &u, &c) == 0)
		ask->nanousd = c.nanousd;
}

/* Transcriptions and translations: whisper-1 by the seconds the upload's
 * header gave (else its size at 128 kbit/s); token-billed models by about
 * 1000 audio tokens a minute plus the default output. */
static void
ask_audio(const struct meter_prices *p, const struct meter_request *rq,
          uint64_t default_output, struct meter_limit_ask *ask)
{
	struct meter_usage u;
	struct meter_cost c;
	uint64_t ms = rq->audio_ms > 0
	                  ? rq->audio_ms
	                  : sat_mul(rq->audio_bytes, 8000) / 128000;

	if (meter_prices_unit_cost(p, rq->model, METER_UNIT_SECONDS, NULL, ms,
	                           &c) == 0) {
		ask->nanousd = c.nanousd;
		return;
	}
	memset(&u, 0, sizeof(u));
	u.audio_input_tokens = ms / 60;
	u.input_tokens = u.audio_input_tokens;
	u.output_tokens = default_output;
	ask->tokens = u.input_tokens + u.output_tokens;
	if (meter_prices_cost(p, rq->model, NULL, &u, &c) == 0)
		ask->nanousd = c.nanousd;
}

void
meter_limit_ask_for(const struct meter_prices *p,
                    const struct meter_request *rq, uint64_t default_output,
                    const char *fallback_model, struct meter_limit_ask *ask)
{
	struct meter_usage u;
	struct meter_cost c;
	uint64_t out;

	memset(ask, 0, sizeof(*ask));
	if (rq->endpoint == METER_EP_AUDIO_SPEECH) {
		/* priced by the characters of its input, known now */
		if (meter_prices_unit_cost(p, rq->model, METER_UNIT_CHARACTERS,
		                           NULL, sat_mul(rq->input_chars, 1000),
		                           &c) == 0)
			ask->nanousd = c.nanousd;
		return;
	}
	if (rq->endpoint == METER_EP_IMAGES_GENERATIONS ||
	    rq->endpoint == METER_EP_IMAGES_EDITS ||
	    rq->endpoint == METER_EP_IMAGES_VARIATIONS) {
		ask_images(p, rq, ask);
		return;
	}
	if (rq->endpoint == METER_EP_AUDIO_TRANSCRIPTIONS ||
	    rq->endpoint == METER_EP_AUDIO_TRANSLATIONS) {
		ask_audio(p, rq, default_output, ask);
		return;
	}
	if (!meter_endpoint_metered(rq->endpoint))
		return;
	out =
	    rq->max_output_tokens > 0 ? rq->max_output_tokens : default_output;
	if (rq->endpoint == METER_EP_EMBEDDINGS)
		out = 0;
	memset(&u, 0, sizeof(u));
	u.input_tokens = meter_request_estimate_input(rq);
	if (u.input_tokens > ASK_MAX_TOKENS)
		u.input_tokens = ASK_MAX_TOKENS;
	u.output_tokens = sat_mul(out, rq->n > 0 ? rq->n : 1);
	ask->tokens = u.input_tokens + u.output_tokens;
	if (meter_prices_cost(p, rq->model, NULL, &u, &c) == 0 ||
	    (fallback_model != NULL &&
	     meter_prices_cost(p, fallback_model, NULL, &u, &c) == 0))
		ask->nanousd = c.nanousd;
}

/* --- names ------------------------------------------------------------- */

const char *
meter_limit_kind_name(enum meter_limit_kind k)
{
	static const char *const names[] = {
	    "", "rpm", "rpd", "tpm", "tpd", "daily_usd", "monthly_usd"};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "";
}

const char *
meter_limit_level_name(enum meter_limit_level l)
{
	static const char *const names[] = {"normal", "warning", "critical",
	                                    "exhausted"};

	return (unsigned)l < sizeof(names) / sizeof(names[0]) ? names[l]
	                                                      : "normal";
}

void
meter_limit_duration(int64_t ms, char *buf, size_t cap)
{
	int64_t h, m, sec, frac;
	int n = 0;

	if (ms < 0)
		ms = 0;
	if (ms < 1000) {
		snprintf(buf, cap, "%lldms", (long long)ms);
		return;
	}
	h = ms / 3600000;
	m = ms / 60000 % 60;
	sec = ms / 1000 % 60;
	frac = ms % 1000;
	buf[0] = '\0';
	if (h > 0)
		n = snprintf(buf, cap, "%lldh%lldm", (long long)h,
		             (long long)m);
	else if (m > 0)
		n = snprintf(buf, cap, "%lldm", (long long)m);
	if (n < 0 || (size_t)n >= cap)
		return;
	if (frac == 0) {
		snprintf(buf + n, cap - (size_t)n, "%llds", (long long)sec);
		return;
	}
	/* Go prints the fraction without trailing zeros: 1.5s, 1.25s. */
	while (frac % 10 == 0)
		frac /= 10;
	snprintf(buf + n, cap - (size_t)n, "%lld.%0*llds", (long long)sec,
	         ms % 100 == 0  ? 1
	         : ms % 10 == 0 ? 2
	                        : 3,
	         (long long)frac);
}
