/*
 * meter/endpoint.h — which OpenAI API a request is for.
 */
#ifndef METER_ENDPOINT_H
#define METER_ENDPOINT_H

#include <stddef.h>

enum meter_endpoint {
	METER_EP_OTHER = 0,       /* anything not listed: passed through */
	METER_EP_CHAT,            /* POST /v1/chat/completions */
	METER_EP_COMPLETIONS,     /* POST /v1/completions */
	METER_EP_EMBEDDINGS,      /* POST /v1/embeddings */
	METER_EP_RESPONSES,       /* POST /v1/responses */
	METER_EP_RESPONSE_OBJECT, /* /v1/responses/{id}[/...] */
	METER_EP_MODERATIONS,     /* POST /v1/moderations */
	METER_EP_AUDIO_TRANSCRIPTIONS,
	METER_EP_AUDIO_TRANSLATIONS,
	METER_EP_AUDIO_SPEECH,
	METER_EP_IMAGES_GENERATIONS,
	METER_EP_IMAGES_EDITS,
	METER_EP_IMAGES_VARIATIONS,
	METER_EP_BATCHES, /* /v1/batches[/...] */
	METER_EP_FILES,   /* /v1/files[/...] */
	METER_EP_MODELS,  /* /v1/models[/...] */
	METER_EP_COUNT
};

/*
 * Classifies a request target (origin form, query allowed) and its method.
 * Never fails: unknown targets are METER_EP_OTHER.
 */
enum meter_endpoint meter_endpoint_classify(const char *method,
                                            const char *target, size_t len);

/*
 * Is target a plain origin-form path that classifies as it reads?  0, or -1
 * when it is not origin-form ("http://..."), or its path (before '?') has
 * "//", a "." or ".." segment, or a percent escape — forms a server may
 * resolve to an endpoint the classifier would not see.
 */
int meter_endpoint_canonical(const char *target, size_t len);

/* Stable name stored in the database: "/v1/chat/completions", "other". */
const char *meter_endpoint_name(enum meter_endpoint ep);

/* Does tollgate read token usage from this endpoint's responses? */
int meter_endpoint_metered(enum meter_endpoint ep);

/* Is the request body read for metering (JSON): the metered endpoints,
 * and those priced from their request: speech (characters of "input")
 * and image generation and edits (model, size, quality, n).  Multipart
 * bodies are read by meter/upload instead. */
int meter_endpoint_inspected(enum meter_endpoint ep);

#endif
