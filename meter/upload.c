/*
 * meter/upload.c — multipart request bodies read for metering (see
 * upload.h).  Runs on the proxy worker that owns the connection, once per
 * request, as the body arrives.  Owns a multipart reader and, for audio
 * endpoints, the audio-duration reader the file part streams through.
 */
#include <stdlib.h>
#include <string.h>

#include "meter/audio.h"
#include "meter/multipart.h"
#include "meter/upload.h"

struct meter_upload {
	enum meter_endpoint ep;
	struct meter_multipart *mp;
	int failed; /* feed returned -1: reading stopped */
	int audio_wanted;
	struct meter_audio audio;
};

static int
is_audio(enum meter_endpoint ep)
{
	return ep == METER_EP_AUDIO_TRANSCRIPTIONS ||
	       ep == METER_EP_AUDIO_TRANSLATIONS;
}

int
meter_upload_wanted(enum meter_endpoint ep)
{
	return is_audio(ep) || ep == METER_EP_IMAGES_EDITS ||
	       ep == METER_EP_IMAGES_VARIATIONS;
}

static void
upload_on_file(void *arg, const char *p, size_t n)
{
	struct meter_upload *u = arg;

	meter_audio_feed(&u->audio, p, n);
}

struct meter_upload *
meter_upload_new(enum meter_endpoint ep, const char *content_type,
                 const char **errstr)
{
	struct meter_upload *u;

	if (!meter_upload_wanted(ep)) {
		*errstr = "not an upload endpoint";
		return NULL;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		*errstr = "out of memory";
		return NULL;
	}
	u->ep = ep;
	u->audio_wanted = is_audio(ep);
	meter_audio_init(&u->audio);
	/* the audio is the part named "file" (CreateTranscriptionRequest);
	 * image uploads are only counted as they pass */
	u->mp = meter_multipart_new(
	    content_type, u->audio_wanted ? upload_on_file : NULL, u, errstr);
	if (u->mp == NULL) {
		free(u);
		return NULL;
	}
	if (!u->audio_wanted) /* no part of an image form is "the file" */
		meter_multipart_set_file_names(u->mp, "");
	return u;
}

void
meter_upload_free(struct meter_upload *u)
{
	if (u == NULL)
		return;
	meter_multipart_free(u->mp);
	free(u);
}

void
meter_upload_feed(struct meter_upload *u, const char *p, size_t n)
{
	if (u->failed || n == 0)
		return;
	if (meter_multipart_feed(u->mp, p, n) == -1)
		u->failed = 1;
}

static void
copy_field(const struct meter_multipart *mp, const char *name, char *dst,
           size_t cap)
{
	const char *v = meter_multipart_field(mp, name);
	size_t n;

	if (v == NULL)
		return;
	n = strlen(v);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* A form's "n": digits only, 1 and up (OpenAI allows 1-10); else 1. */
static uint64_t
form_count(const char *v)
{
	uint64_t n = 0;
	size_t i;

	if (v == NULL || v[0] == '\0' || strlen(v) > 6)
		return 1;
	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	return n > 0 ? n : 1;
}

static void
upload_audio(struct meter_upload *u, struct meter_request *rq)
{
	double seconds;
	int estimated;

	rq->audio_bytes = meter_multipart_file_bytes(u->mp);
	if (!meter_multipart_has_file(u->mp))
		return;
	meter_audio_end(&u->audio, rq->audio_bytes);
	if (meter_audio_duration(&u->audio, &seconds, &estimated) == -1 ||
	    !(seconds > 0) || seconds > 1e9)
		return;
	rq->audio_ms = (uint64_t)(seconds * 1000.0 + 0.5);
	rq->audio_estimated = estimated;
}

int
meter_upload_finish(struct meter_upload *u, struct meter_request *rq,
                    const char **errstr)
{
	const char *stream;
	int rc = 0;

	if (u->failed || meter_multipart_end(u->mp) == -1) {
		*errstr = meter_multipart_error(u->mp);
		rc = -1;
	}
	rq->multipart = 1;
	copy_field(u->mp, "model", rq->model, sizeof(rq->model));
	copy_field(u->mp, "size", rq->size, sizeof(rq->size));
	copy_field(u->mp, "quality", rq->quality, sizeof(rq->quality));
	copy_field(u->mp, "response_format", rq->response_format,
	           sizeof(rq->response_format));
	stream = meter_multipart_field(u->mp, "stream");
	rq->stream = stream != NULL && strcmp(stream, "true") == 0;
	rq->n = form_count(meter_multipart_field(u->mp, "n"));
	/* the prompt is text the model reads: counted, never kept */
	rq->input_text_bytes = meter_multipart_field_bytes(u->mp, "prompt");
	if (u->audio_wanted)
		upload_audio(u, rq);
	return rc;
}
