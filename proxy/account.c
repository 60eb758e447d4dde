/*
 * proxy/account.c — the per-request record (see account.h).
 *
 * Billing rules (DESIGN.md, openai-wire.md §6.3): a request that never
 * reached the upstream costs nothing; an upstream error answer (non-2xx)
 * costs nothing; a metered answer costs what its usage says; a metered
 * request that reached the upstream but whose usage never arrived (cut off,
 * timed out, unreadable) is estimated and flagged — never free.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "meter/endpoint.h"
#include "proxy/account.h"
#include "proxy/background.h"
#include "proxy/events.h"
#include "proxy/log.h"

#define ACCOUNT_UNPRICED_MEMO 256 /* unpriced models warned about once */
/* An upload whose length cannot be read is guessed at this bitrate (bits
 * per second): 128 kbit/s, a common MP3 rate, errs toward more seconds
 * for the low-bitrate speech recordings transcription usually gets. */
#define ACCOUNT_AUDIO_GUESS_BPS 128000
/* gpt-4o-transcribe: $0.006 a minute at $6 per 1M audio tokens is 1000
 * audio tokens a minute (openai-wire.md §8). */
#define ACCOUNT_AUDIO_TOKENS_PER_MIN 1000

static pthread_mutex_t unpriced_mu = PTHREAD_MUTEX_INITIALIZER;
static char unpriced_seen[ACCOUNT_UNPRICED_MEMO][METER_MAX_MODEL];
static int unpriced_n;

int64_t
proxy_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Logs an unpriced model the first time it is seen. */
static void
warn_unpriced(const char *model)
{
	int i, fresh = 1;

	pthread_mutex_lock(&unpriced_mu);
	for (i = 0; i < unpriced_n; i++)
		if (strcmp(unpriced_seen[i], model) == 0)
			fresh = 0;
	if (fresh && unpriced_n < ACCOUNT_UNPRICED_MEMO)
		snprintf(unpriced_seen[unpriced_n++], METER_MAX_MODEL, "%s",
		         model);
	pthread_mutex_unlock(&unpriced_mu);
	if (fresh)
		log_warn("model \"%s\" has no price: its requests are recorded "
		         "at cost 0 (add it to a pricing_file, or set "
		         "unpriced_model: \"deny\")",
		         model);
}

int
proxy_account_priced(struct proxy *px, const char *model)
{
	struct meter_usage u;
	struct meter_cost c;

	memset(&u, 0, sizeof(u));
	return meter_prices_cost(px->prices, model, NULL, &u, &c) == 0;
}

static void
copy(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s != NULL ? s : "");
}

/* Tokens of a request whose usage never came back. */
static void
estimate(const struct account_req *r, struct store_record *rec)
{
	uint64_t text = r->usage != NULL ? r->usage->output_text_bytes : 0;

	rec->input_tokens = meter_request_estimate_input(r->mreq);
	rec->output_tokens = (text + 3) / 4;
	rec->estimated = 1;
}

/* tier NULL: the response's own service_tier. */
static void
price(struct proxy *px, const struct account_req *r, struct store_record *rec,
      const char *tier)
{
	struct meter_usage u;
	struct meter_cost c;

	memset(&u, 0, sizeof(u));
	if (r->usage != NULL)
		u = *r->usage;
	u.input_tokens = rec->input_tokens;
	u.cached_input_tokens = rec->cached_input_tokens;
	u.output_tokens = rec->output_tokens;
	if (rec->model[0] == '\0')
		return;
	if (meter_prices_cost(px->prices, rec->model,
	                      tier != NULL ? tier : u.service_tier, &u,
	                      &c) == 0) {
		rec->cost_nanousd = c.nanousd;
		return;
	}
	METRIC_ADD(&px->metrics, requests_unpriced, 1);
	warn_unpriced(rec->model);
}

/* Speech (openai-wire.md §4.3): tts-1 and tts-1-hd bill the characters
 * of the request's input, whatever happens to the audio; token-billed
 * models (gpt-4o-mini-tts) by the usage in speech.audio.done, which only
 * a stream_format "sse" answer has. */
static void
price_speech(struct proxy *px, const struct account_req *r,
             struct store_record *rec)
{
	struct meter_cost c;

	rec->units = (double)r->mreq->input_chars;
	copy(rec->unit_kind, sizeof(rec->unit_kind), "characters");
	if (meter_prices_unit_cost(px->prices, rec->model,
	                           METER_UNIT_CHARACTERS, NULL,
	                           r->mreq->input_chars * 1000, &c) == 0) {
		rec->cost_nanousd = c.nanousd;
		return;
	}
	/* token-billed speech: speech.audio.done carries the usage */
	if (r->usage != NULL && r->usage->has_usage) {
		rec->input_tokens = r->usage->input_tokens;
		rec->output_tokens = r->usage->output_tokens;
		price(px, r, rec, NULL);
		return;
	}
	/* binary audio: the audio tokens are never reported */
	if (proxy_account_priced(px, rec->model)) {
		rec->input_tokens = (r->mreq->input_chars + 3) / 4;
		rec->estimated = 1;
		copy(rec->error, sizeof(rec->error),
		     "audio output tokens are not reported without "
		     "stream_format sse: input estimated, output not counted");
		price(px, r, rec, NULL);
		return;
	}
	METRIC_ADD(&px->metrics, requests_unpriced, 1);
	if (rec->model[0] != '\0')
		warn_unpriced(rec->model);
}

/* Image generation (openai-wire.md §4.4): dall-e answers carry no usage,
 * so n images at the price of their size and quality; GPT-image models
 * are billed by the text and image tokens their answer reports. */
static void
price_images(struct proxy *px, const struct account_req *r,
             struct store_record *rec)
{
	const char *model = meter_request_image_model(r->mreq);
	struct meter_cost c;
	char variant[40];

	copy(rec->model, sizeof(rec->model), model);
	rec->units = (double)r->mreq->n;
	copy(rec->unit_kind, sizeof(rec->unit_kind), "images");
	meter_request_image_variant(r->mreq, variant, sizeof(variant));
	if (r->usage != NULL && r->usage->has_usage) {
		if (r->usage->model[0] != '\0')
			copy(rec->model, sizeof(rec->model), r->usage->model);
		rec->input_tokens = r->usage->input_tokens;
		rec->cached_input_tokens = r->usage->cached_input_tokens;
		rec->output_tokens = r->usage->output_tokens;
		price(px, r, rec, NULL);
		return;
	}
	if (meter_prices_unit_cost(
	        px->prices, model, METER_UNIT_IMAGES, variant,
	        r->mreq->n > UINT64_MAX / 1000 ? UINT64_MAX : r->mreq->n * 1000,
	        &c) == 0) {
		rec->cost_nanousd = c.nanousd;
		return;
	}
	METRIC_ADD(&px->metrics, requests_unpriced, 1);
	warn_unpriced(model);
}

/*
 * The audio's length for a duration-billed transcription or translation:
 * what the answer says (usage.seconds, verbose_json "duration"), else the
 * upload's own container header, else its size at ACCOUNT_AUDIO_GUESS_BPS.
 * *why is set when the length is not exact.
 */
static uint64_t
audio_ms(const struct account_req *r, int *estimated, const char **why)
{
	const struct meter_request *rq = r->mreq;

	*estimated = 0;
	*why = NULL;
	if (r->usage != NULL && r->usage->audio_ms > 0)
		return r->usage->audio_ms;
	if (rq->audio_ms > 0) {
		if (rq->audio_estimated) {
			*estimated = 1;
			*why =
			    "audio length estimated from the upload's bitrate";
		}
		return rq->audio_ms;
	}
	*estimated = 1;
	*why = "audio length unknown (container not recognised): estimated "
	       "from the upload's size";
	return rq->audio_bytes > UINT64_MAX / 8000
	           ? UINT64_MAX / ACCOUNT_AUDIO_GUESS_BPS
	           : rq->audio_bytes * 8000 / ACCOUNT_AUDIO_GUESS_BPS;
}

/*
 * Transcriptions and translations (openai-wire.md §4.1, §4.2): models
 * billed by tokens (gpt-4o-*-transcribe) report them in the answer's
 * usage (JSON, or transcript.text.done when streamed); whisper-1 is
 * billed by the second.  A token-billed answer without usage (cut off) is
 * estimated from the audio's length at OpenAI's published rate of about
 * ACCOUNT_AUDIO_TOKENS_PER_MIN audio tokens a minute.
 */
static void
price_audio(struct proxy *px, const struct account_req *r,
            struct store_record *rec)
{
	const struct meter_usage *u = r->usage;
	struct meter_usage est;
	struct meter_cost c;
	const char *why;
	int estimated;
	uint64_t ms;

	if (u != NULL && u->has_usage &&
	    (u->input_tokens > 0 || u->output_tokens > 0)) {
		rec->input_tokens = u->input_tokens;
		rec->cached_input_tokens = u->cached_input_tokens;
		rec->output_tokens = u->output_tokens;
		price(px, r, rec, NULL);
		return;
	}
	ms = audio_ms(r, &estimated, &why);
	rec->units = (double)ms / 1000.0;
	copy(rec->unit_kind, sizeof(rec->unit_kind), "seconds");
	rec->estimated = estimated;
	if (why != NULL)
		copy(rec->error, sizeof(rec->error), why);
	if (meter_prices_unit_cost(px->prices, rec->model, METER_UNIT_SECONDS,
	                           NULL, ms, &c) == 0) {
		rec->cost_nanousd = c.nanousd;
		return;
	}
	if (rec->model[0] == '\0' || !proxy_account_priced(px, rec->model)) {
		METRIC_ADD(&px->metrics, requests_unpriced, 1);
		if (rec->model[0] != '\0')
			warn_unpriced(rec->model);
		return;
	}
	memset(&est, 0, sizeof(est));
	est.audio_input_tokens =
	    ms / 60000 * ACCOUNT_AUDIO_TOKENS_PER_MIN +
	    ms % 60000 * ACCOUNT_AUDIO_TOKENS_PER_MIN / 60000;
	est.input_tokens = est.audio_input_tokens;
	rec->input_tokens = est.input_tokens;
	rec->estimated = 1;
	copy(rec->error, sizeof(rec->error),
	     "transcription answer carried no usage: audio tokens estimated "
	     "from the audio's length");
	if (meter_prices_cost(px->prices, rec->model, NULL, &est, &c) == 0)
		rec->cost_nanousd = c.nanousd;
}

/* --- background responses (openai-wire.md §3.3) ---------------------- */

/* POST /v1/responses with background: true answered "queued": no usage
 * yet.  The row costs nothing; the id waits for a poll showing it done. */
static void
background_created(struct proxy *px, const struct account_req *r,
                   struct store_record *rec)
{
	const char *id = r->usage->response_id;

	copy(rec->response_id, sizeof(rec->response_id), id);
	rec->bg_op = STORE_BG_PENDING;
	if (proxy_background_add(px->background, id, rec->workspace) == -1) {
		log_warn("conn %" PRIu64 ": background response %s is not "
		         "tracked (%d pending): its usage will not be metered",
		         r->conn_id, id, PROXY_BACKGROUND_MAX);
		copy(rec->error, sizeof(rec->error),
		     "background response not tracked: too many pending");
	}
}

static int
terminal_status(const char *s)
{
	return strcmp(s, "completed") == 0 || strcmp(s, "incomplete") == 0 ||
	       strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0 ||
	       strcmp(s, "expired") == 0; /* batches */
}

/*
 * GET /v1/responses/{id} (or its stream): when it shows a background
 * response of ours in a terminal state, this row carries its usage, once,
 * for the workspace that created it.  Other polls cost nothing.
 */
static void
background_poll(struct proxy *px, const struct account_req *r,
                struct store_record *rec, const char *tier)
{
	const struct meter_usage *u = r->usage;
	char ws[CONFIG_NAME_MAX];

	if (u == NULL || u->response_id[0] == '\0' ||
	    !terminal_status(u->status) ||
	    !proxy_background_claim(px->background, u->response_id, ws,
	                            sizeof(ws)))
		return;
	copy(rec->workspace, sizeof(rec->workspace), ws);
	copy(rec->response_id, sizeof(rec->response_id), u->response_id);
	rec->bg_op = STORE_BG_METERED;
	if (!u->has_usage)
		return; /* failed or cancelled before any usage */
	rec->input_tokens = u->input_tokens;
	rec->cached_input_tokens = u->cached_input_tokens;
	rec->output_tokens = u->output_tokens;
	rec->reasoning_tokens = u->reasoning_tokens;
	price(px, r, rec, tier);
}

/*
 * Batch API (openai-wire.md §5): POST /v1/batches registers the new
 * batch's id like a background response; the first GET /v1/batches/{id}
 * showing it finished with usage carries that usage at batch prices (the
 * table's batch rates, else half), for the workspace that created it.
 */
static void
batch_seen(struct proxy *px, const struct account_req *r,
           struct store_record *rec)
{
	const struct meter_usage *u = r->usage;

	if (u == NULL || strncmp(u->response_id, "batch_", 6) != 0)
		return;
	if (strcmp(r->method, "POST") == 0 && !terminal_status(u->status)) {
		background_created(px, r, rec);
		return;
	}
	if (strcmp(r->method, "GET") == 0)
		background_poll(px, r, rec, "batch");
}

static void
fill(struct proxy *px, const struct account_req *r, struct store_record *rec)
{
	const struct meter_usage *u = r->usage;
	int metered = meter_endpoint_metered(r->mreq->endpoint) && r->sent &&
	              !(r->answered && (r->status < 200 || r->status > 299));

	memset(rec, 0, sizeof(*rec));
	rec->ts_ms = r->start_ms;
	rec->duration_ms = r->end_ms - r->start_ms;
	copy(rec->workspace, sizeof(rec->workspace), r->workspace);
	copy(rec->end_user, sizeof(rec->end_user), r->mreq->end_user);
	copy(rec->endpoint, sizeof(rec->endpoint),
	     meter_endpoint_name(r->mreq->endpoint));
	copy(rec->model, sizeof(rec->model),
	     u != NULL && u->model[0] ? u->model : r->mreq->model);
	rec->status = r->status;
	rec->stream = r->mreq->stream;
	rec->forwarded = r->sent;
	copy(rec->price_version, sizeof(rec->price_version),
	     meter_prices_version(px->prices));
	copy(rec->upstream_request_id, sizeof(rec->upstream_request_id),
	     r->upstream_request_id);
	copy(rec->limit_hit, sizeof(rec->limit_hit), r->limit_hit);
	copy(rec->error, sizeof(rec->error), r->error);
	if (r->mreq->is_json)
		snprintf(rec->request_hash, sizeof(rec->request_hash),
		         "%016" PRIx64, r->mreq->body_hash);
	if (r->sent && !(r->answered && (r->status < 200 || r->status > 299))) {
		if (r->mreq->endpoint == METER_EP_AUDIO_SPEECH) {
			price_speech(px, r, rec);
			return;
		}
		if (r->mreq->endpoint == METER_EP_AUDIO_TRANSCRIPTIONS ||
		    r->mreq->endpoint == METER_EP_AUDIO_TRANSLATIONS) {
			price_audio(px, r, rec);
			return;
		}
		if (r->mreq->endpoint == METER_EP_IMAGES_GENERATIONS ||
		    r->mreq->endpoint == METER_EP_IMAGES_EDITS ||
		    r->mreq->endpoint == METER_EP_IMAGES_VARIATIONS) {
			price_images(px, r, rec);
			return;
		}
		if (r->mreq->endpoint == METER_EP_RESPONSE_OBJECT &&
		    r->answered) {
			background_poll(px, r, rec, NULL);
			return;
		}
		if (r->mreq->endpoint == METER_EP_BATCHES && r->answered) {
			batch_seen(px, r, rec);
			return;
		}
	}
	if (!metered)
		return;
	if (r->mreq->background && r->answered && u != NULL && !u->has_usage &&
	    u->response_id[0] != '\0') {
		background_created(px, r, rec);
		return;
	}
	if (u != NULL && u->has_usage) {
		rec->input_tokens = u->input_tokens;
		rec->cached_input_tokens = u->cached_input_tokens;
		rec->output_tokens = u->output_tokens;
		rec->reasoning_tokens = u->reasoning_tokens;
	} else {
		estimate(r, rec);
		if (rec->error[0] == '\0')
			copy(rec->error, sizeof(rec->error),
			     r->meter_problem ? r->meter_problem
			                      : "response carried no usage");
	}
	price(px, r, rec, NULL);
}

static void
count(struct proxy *px, enum meter_endpoint ep, const struct store_record *rec)
{
	struct proxy_metrics *m = &px->metrics;
	int cls =
	    rec->status >= 100 && rec->status < 600 ? rec->status / 100 : 0;

	METRIC_ADD(m, requests_total, 1);
	METRIC_ADD(m, requests_by_class[cls], 1);
	METRIC_ADD(m, input_tokens, rec->input_tokens);
	METRIC_ADD(m, output_tokens, rec->output_tokens);
	METRIC_ADD(m, cost_nanousd, rec->cost_nanousd);
	if (rec->estimated)
		METRIC_ADD(m, requests_estimated, 1);
	proxy_metrics_request(m, ep, rec);
}

void
proxy_account_finish(struct proxy *px, const struct account_req *r)
{
	struct store_record rec;

	fill(px, r, &rec);
	count(px, r->mreq->endpoint, &rec);
	proxy_events_publish(px->events, &rec);
	if (strcmp(rec.workspace, r->workspace) != 0) {
		/* A background response or batch, billed to the workspace
		 * that created it: the poll itself cost nothing. */
		if (r->grant != NULL)
			proxy_limiter_settle(px->limiter, r->grant, 0, 0,
			                     r->end_ms);
		proxy_limiter_charge(px->limiter, rec.workspace,
		                     rec.cost_nanousd, r->end_ms);
	} else if (r->grant != NULL) {
		proxy_limiter_settle(px->limiter, r->grant,
		                     rec.input_tokens + rec.output_tokens,
		                     rec.cost_nanousd, r->end_ms);
	}
	if (r->reserved)
		store_submit(px->store, &rec);
	else if (store_try_submit(px->store, &rec) == -1) {
		METRIC_ADD(&px->metrics, store_refusals, 1);
		log_err("conn %" PRIu64 ": store queue full: the record of "
		        "this %d answer is not stored",
		        r->conn_id, rec.status);
	}
	log_info(
	    "conn %" PRIu64 ": %s %.120s ws=%s model=%s status=%d in=%" PRIu64
	    " cached=%" PRIu64 " out=%" PRIu64 " reasoning=%" PRIu64
	    " cost_usd=%" PRIu64 ".%09" PRIu64 " %" PRId64 "ms%s%s%s%s%s",
	    r->conn_id, r->method, r->target, rec.workspace,
	    rec.model[0] ? rec.model : "-", rec.status, rec.input_tokens,
	    rec.cached_input_tokens, rec.output_tokens, rec.reasoning_tokens,
	    rec.cost_nanousd / 1000000000, rec.cost_nanousd % 1000000000,
	    rec.duration_ms, rec.estimated ? " estimated" : "",
	    rec.limit_hit[0] ? " limit=" : "", rec.limit_hit,
	    rec.error[0] ? " error=" : "", rec.error);
}
