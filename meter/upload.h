/*
 * meter/upload.h — a multipart/form-data request body read for metering
 * as it arrives (openai-wire.md §4.1, §4.2, §4.4).
 *
 * Transcriptions and translations give model, response_format, stream and
 * the length of the uploaded audio (read from its container header, since
 * whisper-1 bills seconds and most of its answers do not say how long the
 * audio was); image edits and variations give model, n, size and quality.
 * Memory is fixed whatever the upload's size: the body streams through
 * meter/multipart and the file's bytes through meter/audio.
 */
#ifndef METER_UPLOAD_H
#define METER_UPLOAD_H

#include <stddef.h>

#include "meter/endpoint.h"
#include "meter/request.h"

struct meter_upload;

/* Is ep's body read as multipart when its Content-Type says it is? */
int meter_upload_wanted(enum meter_endpoint ep);

/*
 * A reader for ep's body with Content-Type content_type (NULL or not
 * multipart/form-data: NULL with *errstr).  NULL with *errstr also on a
 * bad boundary or no memory.  Free with meter_upload_free (NULL is fine).
 */
struct meter_upload *meter_upload_new(enum meter_endpoint ep,
                                      const char *content_type,
                                      const char **errstr);
void meter_upload_free(struct meter_upload *u);

/* The next n body bytes, in any split.  A malformed body stops the reading
 * (meter_upload_finish reports it); feeding on is harmless. */
void meter_upload_feed(struct meter_upload *u, const char *p, size_t n);

/*
 * End of body: fills rq (endpoint already set by the caller) with what the
 * form said: model, stream, n, size, quality, response_format, and for
 * audio uploads audio_ms / audio_estimated / audio_bytes.  0, or -1 when
 * the body was not well-formed multipart (*errstr says why; rq holds what
 * was read before the fault).
 */
int meter_upload_finish(struct meter_upload *u, struct meter_request *rq,
                        const char **errstr);

#endif
