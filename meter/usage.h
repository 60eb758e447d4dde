/*
 * meter/usage.h — what one response consumed, as the meter read it.
 * Plain data shared by meter/response (fills it) and meter/price (reads it).
 */
#ifndef METER_USAGE_H
#define METER_USAGE_H

#include <stdint.h>

#define METER_MAX_MODEL 128 /* model name bytes kept, NUL included */
#define METER_MAX_TIER 16
#define METER_MAX_ID 96

struct meter_usage {
	char model[METER_MAX_MODEL]; /* response model (dated snapshot) */
	char service_tier[METER_MAX_TIER];
	char response_id[METER_MAX_ID];
	char status[METER_MAX_TIER]; /* Responses API "status": "queued",
	                                "completed", ... ("" = absent) */
	int has_usage;               /* a usage object was read */
	/* Token counts as OpenAI reports them: input includes cached and
	 * audio input; output includes reasoning and audio output. */
	uint64_t input_tokens;
	uint64_t cached_input_tokens;
	uint64_t output_tokens;
	uint64_t reasoning_tokens;
	uint64_t audio_input_tokens;
	uint64_t audio_output_tokens;
	uint64_t image_input_tokens;  /* GPT-image: input_tokens_details */
	uint64_t image_output_tokens; /* ... and output_tokens_details */
	uint64_t audio_ms; /* transcriptions: usage.seconds or "duration",
	                      in ms (0 = not reported) */
	/* Bytes of generated text seen (for estimating a cut-off stream). */
	uint64_t output_text_bytes;
};

#endif
