/*
 * tests/unit/test_meter_upload.c — meter/upload.c, multipart request bodies
 * read for metering.
 *
 * A transcription form with a real 16-bit PCM WAV of 0.1 s (built here),
 * an image-edit form and a malformed body are fed whole, byte by byte and
 * split at every offset (STYLE.md §23); the request fields and the audio
 * length must be the same for every split.  Also: the endpoints read as
 * uploads, a bad Content-Type, hostile `n` values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/upload.h"
#include "tests/unit/harness.h"
#include "tests/unit/sbuf.h"

#define UP_CT "multipart/form-data; boundary=----tg42"

struct urec {
	enum meter_endpoint ep;
	struct meter_upload *u;
	char want[512];
};

static void
put_le(struct sbuf *b, uint32_t v, int n)
{
	unsigned char c[4];
	int i;

	for (i = 0; i < n; i++)
		c[i] = (unsigned char)(v >> (8 * i));
	sb_add(b, (const char *)c, (size_t)n);
}

/* A 16 kHz mono 16-bit WAV of ms milliseconds of silence. */
static void
wav(struct sbuf *b, uint32_t ms)
{
	uint32_t data = 16000 * 2 * ms / 1000, i;

	sb_add(b, "RIFF", 4);
	put_le(b, 36 + data, 4);
	sb_add(b, "WAVEfmt ", 8);
	put_le(b, 16, 4);
	put_le(b, 1, 2);     /* PCM */
	put_le(b, 1, 2);     /* mono */
	put_le(b, 16000, 4); /* rate */
	put_le(b, 32000, 4); /* byte rate */
	put_le(b, 2, 2);     /* block align */
	put_le(b, 16, 2);    /* bits */
	sb_add(b, "data", 4);
	put_le(b, data, 4);
	for (i = 0; i < data; i++)
		sb_add(b, "\0", 1);
}

static void
field(struct sbuf *b, const char *name, const char *value)
{
	char tmp[256];

	snprintf(tmp, sizeof(tmp),
	         "------tg42\r\nContent-Disposition: form-data; "
	         "name=\"%s\"\r\n\r\n%s\r\n",
	         name, value);
	sb_add(b, tmp, strlen(tmp));
}

static void
summary(const struct meter_request *rq, int rc, char *out, size_t cap)
{
	snprintf(out, cap,
	         "rc=%d model=%s stream=%d n=%llu size=%s quality=%s fmt=%s "
	         "prompt=%llu ms=%llu est=%d bytes=%llu",
	         rc, rq->model, rq->stream, (unsigned long long)rq->n, rq->size,
	         rq->quality, rq->response_format,
	         (unsigned long long)rq->input_text_bytes,
	         (unsigned long long)rq->audio_ms, rq->audio_estimated,
	         (unsigned long long)rq->audio_bytes);
}

static void
urec_reset(void *arg)
{
	struct urec *r = arg;
	const char *err = NULL;

	meter_upload_free(r->u);
	if ((r->u = meter_upload_new(r->ep, UP_CT, &err)) == NULL)
		abort();
}

static void
urec_feed(void *arg, const char *p, size_t n)
{
	struct urec *r = arg;

	meter_upload_feed(r->u, p, n);
}

static void
urec_check(void *arg, const char *run)
{
	struct urec *r = arg;
	struct meter_request rq;
	const char *err = NULL;
	char got[512];
	int rc;

	memset(&rq, 0, sizeof(rq));
	rc = meter_upload_finish(r->u, &rq, &err);
	summary(&rq, rc, got, sizeof(got));
	if (strcmp(got, r->want) != 0)
		harness_fail(__FILE__, __LINE__, "%s: %s, want %s", run, got,
		             r->want);
}

static void
run_all(enum meter_endpoint ep, const struct sbuf *b, const char *want)
{
	struct urec r;

	memset(&r, 0, sizeof(r));
	r.ep = ep;
	snprintf(r.want, sizeof(r.want), "%s", want);
	harness_split_runs(b->p, b->len, &r, urec_reset, urec_feed, urec_check);
	meter_upload_free(r.u);
}

TEST(meter_upload_transcription_every_split)
{
	struct sbuf b = {0}, w = {0};
	static const char file_head[] =
	    "------tg42\r\nContent-Disposition: form-data; name=\"file\"; "
	    "filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n";

	wav(&w, 100);
	field(&b, "model", "whisper-1");
	field(&b, "response_format", "text");
	field(&b, "prompt", "Tollgate, nano-dollars");
	sb_add(&b, file_head, sizeof(file_head) - 1);
	sb_add(&b, w.p, w.len);
	sb_add(&b, "\r\n------tg42--\r\n", 16);
	run_all(METER_EP_AUDIO_TRANSCRIPTIONS, &b,
	        "rc=0 model=whisper-1 stream=0 n=1 size= quality= fmt=text "
	        "prompt=22 ms=100 est=0 bytes=3244");
	free(b.p);
	free(w.p);
}

TEST(meter_upload_image_edit_every_split)
{
	struct sbuf b = {0};
	static const char img[] =
	    "------tg42\r\nContent-Disposition: form-data; name=\"image\"; "
	    "filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
	    "\x89PNG\r\n\x1a\n not really a picture\r\n";

	field(&b, "model", "dall-e-2");
	field(&b, "n", "3");
	field(&b, "size", "512x512");
	field(&b, "stream", "true");
	sb_add(&b, img, sizeof(img) - 1);
	field(&b, "prompt", "a hat");
	sb_add(&b, "------tg42--\r\n", 14);
	run_all(METER_EP_IMAGES_EDITS, &b,
	        "rc=0 model=dall-e-2 stream=1 n=3 size=512x512 quality= fmt= "
	        "prompt=5 ms=0 est=0 bytes=0");
	free(b.p);
}

TEST(meter_upload_truncated_body_reports_and_keeps_fields)
{
	struct sbuf b = {0};
	static const char cut[] =
	    "------tg42\r\nContent-Disposition: form-data; name=\"file\"; "
	    "filename=\"a.wav\"\r\n\r\nRIFF";

	field(&b, "model", "whisper-1");
	sb_add(&b, cut, sizeof(cut) - 1);
	run_all(METER_EP_AUDIO_TRANSLATIONS, &b,
	        "rc=-1 model=whisper-1 stream=0 n=1 size= quality= fmt= "
	        "prompt=0 ms=0 est=0 bytes=4");
	free(b.p);
}

TEST(meter_upload_new_refuses)
{
	const char *err = NULL;

	CHECK(meter_upload_wanted(METER_EP_AUDIO_TRANSCRIPTIONS));
	CHECK(meter_upload_wanted(METER_EP_IMAGES_VARIATIONS));
	CHECK(!meter_upload_wanted(METER_EP_CHAT));
	CHECK(!meter_upload_wanted(METER_EP_FILES));
	CHECK(meter_upload_new(METER_EP_CHAT, UP_CT, &err) == NULL && err);
	err = NULL;
	CHECK(meter_upload_new(METER_EP_IMAGES_EDITS, "application/json",
	                       &err) == NULL &&
	      err);
	err = NULL;
	CHECK(meter_upload_new(METER_EP_IMAGES_EDITS, NULL, &err) == NULL &&
	      err);
}

TEST(meter_upload_hostile_n_is_one)
{
	static const char *const bad[] = {"0",       "-2", "1e9",
	                                  "9999999", "",   "3 "};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sbuf b = {0};
		struct meter_request rq;
		const char *err = NULL;
		struct meter_upload *u =
		    meter_upload_new(METER_EP_IMAGES_VARIATIONS, UP_CT, &err);

		CHECK(u != NULL);
		field(&b, "n", bad[i]);
		sb_add(&b, "------tg42--\r\n", 14);
		meter_upload_feed(u, b.p, b.len);
		memset(&rq, 0, sizeof(rq));
		CHECK(meter_upload_finish(u, &rq, &err) == 0);
		if (rq.n != 1)
			harness_fail(__FILE__, __LINE__, "n=\"%s\" gave %llu",
			             bad[i], (unsigned long long)rq.n);
		meter_upload_free(u);
		free(b.p);
	}
}
