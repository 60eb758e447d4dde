/*
 * tests/fuzz/fuzz_multipart.c — meter/multipart: any body, fed whole, split
 * at a data-chosen offset and in data-chosen chunks, must give the same
 * result (return codes, error, parts, every kept field, counts and bytes,
 * the file part and a checksum of the bytes handed to on_file), and the
 * counts must agree with the callback and stay within the limits.
 *
 * Input: byte 0 picks the file part names and the content type (a fixed
 * one, or the input's first line); byte 1 the chunk size; the rest is the
 * body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fields[] = {
    "model", "response_format", "stream", "timestamp_granularities[]", "n",
    "size",  "quality",         "prompt",
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

struct res {
	int rc, end;
	char err[128];
	unsigned parts, file_parts, upload_parts;
	int done, has_file;
	char file_name[METER_MULTIPART_MAX_FILENAME + 1];
	char file_type[METER_MULTIPART_MAX_FILE_TYPE + 1];
	uint64_t file_bytes, upload_bytes;
	uint64_t cb_bytes, cb_sum; /* what on_file saw */
	struct {
		int present, truncated;
		unsigned count, count2;
		uint64_t bytes;
		char val[METER_MULTIPART_MAX_FIELD + 1];
	} f[NFIELDS];
};

static void
on_file(void *arg, const char *p, size_t n)
{
	struct res *r = arg;
	size_t i;

	if (n == 0)
		__builtin_trap();
	for (i = 0; i < n; i++)
		r->cb_sum = r->cb_sum * 1099511628211u + (unsigned char)p[i];
	r->cb_bytes += n;
}

static void
collect(struct meter_multipart *mp, struct res *r)
{
	size_t i;

	r->end = meter_multipart_end(mp);
	if (meter_multipart_error(mp) != NULL)
		snprintf(r->err, sizeof(r->err), "%s",
		         meter_multipart_error(mp));
	r->parts = meter_multipart_parts(mp);
	r->done = meter_multipart_done(mp);
	r->has_file = meter_multipart_has_file(mp);
	snprintf(r->file_name, sizeof(r->file_name), "%s",
	         meter_multipart_file_name(mp));
	snprintf(r->file_type, sizeof(r->file_type), "%s",
	         meter_multipart_file_type(mp));
	r->file_bytes = meter_multipart_file_bytes(mp);
	r->file_parts = meter_multipart_file_parts(mp);
	r->upload_parts = meter_multipart_upload_parts(mp);
	r->upload_bytes = meter_multipart_upload_bytes(mp);
	for (i = 0; i < NFIELDS; i++) {
		const char *v = meter_multipart_field_ex(
		    mp, fields[i], &r->f[i].truncated, &r->f[i].count);

		r->f[i].present = v != NULL;
		if (v != NULL) {
			if (strlen(v) > METER_MULTIPART_MAX_FIELD)
				__builtin_trap();
			snprintf(r->f[i].val, sizeof(r->f[i].val), "%s", v);
		}
		r->f[i].count2 = meter_multipart_field_count(mp, fields[i]);
		r->f[i].bytes = meter_multipart_field_bytes(mp, fields[i]);
	}
}

/* Feeds body in pieces: cut, then chunks of `chunk` bytes. */
static void
run(const char *ct, const char *names, const char *body, size_t n, size_t cut,
    size_t chunk, struct res *r)
{
	const char *err = NULL;
	struct meter_multipart *mp;
	size_t off;

	memset(r, 0, sizeof(*r));
	mp = meter_multipart_new(ct, on_file, r, &err);
	if (mp == NULL) {
		if (err == NULL)
			__builtin_trap();
		r->rc = -2;
		return;
	}
	if (meter_multipart_set_file_names(mp, names) == -1)
		__builtin_trap();
	if (meter_multipart_feed(mp, body, cut) == -1)
		r->rc = -1;
	for (off = cut; off < n; off += chunk) {
		size_t len = n - off < chunk ? n - off : chunk;

		if (meter_multipart_feed(mp, body + off, len) == -1)
			r->rc = -1;
	}
	collect(mp, r);
	meter_multipart_free(mp);
}

static void
check(const struct res *a, const struct res *b, size_t n)
{
	if (memcmp(a, b, sizeof(*a)) != 0)
		__builtin_trap(); /* split-dependent */
	if (a->rc == -2)
		return;
	if (a->cb_bytes != a->file_bytes || a->file_bytes > a->upload_bytes ||
	    a->upload_bytes > n || a->parts > METER_MULTIPART_MAX_PARTS + 1 ||
	    a->file_parts > a->upload_parts ||
	    a->has_file != (a->file_parts > 0))
		__builtin_trap();
	if ((a->rc == -1 || a->end == -1) && a->err[0] == '\0')
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"file", "image,image[]", "",
	                                    "mask"};
	static struct res whole, split, chunked; /* large: not on the stack */
	char ct[256];
	const char *body;
	size_t n, cut, chunk;

	if (size < 2)
		return 0;
	chunk = (size_t)data[1] % 17 + 1;
	body = (const char *)data + 2;
	n = size - 2;
	if (data[0] & 4) { /* the content type is the first line */
		const char *nl = memchr(body, '\n', n);
		size_t len = nl != NULL ? (size_t)(nl - body) : n;

		if (len >= sizeof(ct) || memchr(body, '\0', len) != NULL)
			return 0;
		memcpy(ct, body, len);
		ct[len] = '\0';
		if (nl != NULL)
			len++;
		body += len;
		n -= len;
	} else {
		snprintf(ct, sizeof(ct), "multipart/form-data; boundary=XyZ");
	}
	cut = n > 0 ? (size_t)(data[0] >> 3) * 131 % (n + 1) : 0;
	run(ct, names[data[0] & 3], body, n, n, n, &whole);
	run(ct, names[data[0] & 3], body, n, cut, n, &split);
	check(&whole, &split, n);
	run(ct, names[data[0] & 3], body, n, 0, chunk, &chunked);
	check(&whole, &chunked, n);
	return 0;
}
