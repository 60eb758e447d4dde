/*
 * meter/endpoint.c — request target to endpoint (see endpoint.h).
 * Pure functions; any thread.
 */
#include <string.h>

#include "meter/endpoint.h"

struct ep_entry {
	const char *path;   /* after "/v1" */
	int prefix;         /* also matches path + "/..." */
	const char *method; /* NULL: any method */
	enum meter_endpoint ep;
};

static const struct ep_entry ep_table[] = {
    {"/chat/completions", 0, "POST", METER_EP_CHAT},
    {"/completions", 0, "POST", METER_EP_COMPLETIONS},
    {"/embeddings", 0, "POST", METER_EP_EMBEDDINGS},
    {"/responses", 0, "POST", METER_EP_RESPONSES},
    {"/responses", 1, NULL, METER_EP_RESPONSE_OBJECT},
    {"/moderations", 0, "POST", METER_EP_MODERATIONS},
    {"/audio/transcriptions", 0, "POST", METER_EP_AUDIO_TRANSCRIPTIONS},
    {"/audio/translations", 0, "POST", METER_EP_AUDIO_TRANSLATIONS},
    {"/audio/speech", 0, "POST", METER_EP_AUDIO_SPEECH},
    {"/images/generations", 0, "POST", METER_EP_IMAGES_GENERATIONS},
    {"/images/edits", 0, "POST", METER_EP_IMAGES_EDITS},
    {"/images/variations", 0, "POST", METER_EP_IMAGES_VARIATIONS},
    {"/batches", 1, NULL, METER_EP_BATCHES},
    {"/files", 1, NULL, METER_EP_FILES},
    {"/models", 1, NULL, METER_EP_MODELS},
};

static const char *const ep_names[METER_EP_COUNT] = {
    [METER_EP_OTHER] = "other",
    [METER_EP_CHAT] = "/v1/chat/completions",
    [METER_EP_COMPLETIONS] = "/v1/completions",
    [METER_EP_EMBEDDINGS] = "/v1/embeddings",
    [METER_EP_RESPONSES] = "/v1/responses",
    [METER_EP_RESPONSE_OBJECT] = "/v1/responses/{id}",
    [METER_EP_MODERATIONS] = "/v1/moderations",
    [METER_EP_AUDIO_TRANSCRIPTIONS] = "/v1/audio/transcriptions",
    [METER_EP_AUDIO_TRANSLATIONS] = "/v1/audio/translations",
    [METER_EP_AUDIO_SPEECH] = "/v1/audio/speech",
    [METER_EP_IMAGES_GENERATIONS] = "/v1/images/generations",
    [METER_EP_IMAGES_EDITS] = "/v1/images/edits",
    [METER_EP_IMAGES_VARIATIONS] = "/v1/images/variations",
    [METER_EP_BATCHES] = "/v1/batches",
    [METER_EP_FILES] = "/v1/files",
    [METER_EP_MODELS] = "/v1/models",
};

enum meter_endpoint
meter_endpoint_classify(const char *method, const char *target, size_t len)
{
	const char *q = memchr(target, '?', len);
	size_t i, n;

	if (q != NULL)
		len = (size_t)(q - target);
	while (len > 1 && target[len - 1] == '/')
		len--; /* "/v1/chat/completions/" is the same resource */
	if (len < 3 || memcmp(target, "/v1", 3) != 0)
		return METER_EP_OTHER;
	target += 3;
	len -= 3;
	for (i = 0; i < sizeof(ep_table) / sizeof(ep_table[0]); i++) {
		const struct ep_entry *e = &ep_table[i];

		n = strlen(e->path);
		if (len < n || memcmp(target, e->path, n) != 0)
			continue;
		if (len == n && e->prefix)
			continue; /* exact path handled by its own entry */
		if (len > n && !(e->prefix && target[n] == '/'))
			continue;
		if (len == n && e->method != NULL &&
		    strcmp(method, e->method) != 0)
			continue;
		return e->ep;
	}
	/* GET /v1/models, /v1/files, /v1/batches (the collection itself). */
	for (i = 0; i < sizeof(ep_table) / sizeof(ep_table[0]); i++) {
		const struct ep_entry *e = &ep_table[i];

		if (e->prefix && strlen(e->path) == len &&
		    memcmp(target, e->path, len) == 0 &&
		    e->ep != METER_EP_RESPONSE_OBJECT)
			return e->ep;
	}
	return METER_EP_OTHER;
}

int
meter_endpoint_canonical(const char *target, size_t len)
{
	const char *q = memchr(target, '?', len);
	size_t i;

	if (q != NULL)
		len = (size_t)(q - target);
	if (len == 0 || target[0] != '/')
		return -1;
	for (i = 0; i < len; i++) {
		if (target[i] == '%')
			return -1;
		if (target[i] != '/' || i + 1 >= len)
			continue;
		if (target[i + 1] == '/')
			return -1;
		/* "/." or "/.." followed by '/' or the end of the path */
		if (target[i + 1] == '.' &&
		    (i + 2 == len || target[i + 2] == '/' ||
		     (target[i + 2] == '.' &&
		      (i + 3 == len || target[i + 3] == '/'))))
			return -1;
	}
	return 0;
}

const char *
meter_endpoint_name(enum meter_endpoint ep)
{
	if ((int)ep < 0 || ep >= METER_EP_COUNT)
		return "other";
	return ep_names[ep];
}

int
meter_endpoint_metered(enum meter_endpoint ep)
{
	return ep == METER_EP_CHAT || ep == METER_EP_COMPLETIONS ||
	       ep == METER_EP_EMBEDDINGS || ep == METER_EP_RESPONSES;
}

int
meter_endpoint_inspected(enum meter_endpoint ep)
{
	return meter_endpoint_metered(ep) || ep == METER_EP_AUDIO_SPEECH ||
	       ep == METER_EP_IMAGES_GENERATIONS ||
	       ep == METER_EP_IMAGES_EDITS || /* edits may be JSON (2026) */
	       ep == METER_EP_MODERATIONS;    /* the model, priced at 0 */
}
