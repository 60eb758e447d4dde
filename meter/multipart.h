/*
 * meter/multipart.h — incremental multipart/form-data reader (RFC 7578 on
 * RFC 2046 §5.1).
 *
 * A request body streams through once, in any split.  The reader keeps the
 * few small text fields the meter needs (model, response_format, stream,
 * timestamp_granularities[]), and hands the bytes of the uploaded file to a
 * callback as they arrive, counting them; the body is never held.  Memory is
 * one fixed struct: the boundary, one part's headers and the kept fields.
 */
#ifndef METER_MULTIPART_H
#define METER_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define METER_MULTIPART_MAX_BOUNDARY 70   /* bytes; RFC 2046 §5.1.1 */
#define METER_MULTIPART_MAX_FIELD 256     /* bytes kept of a field value */
#define METER_MULTIPART_MAX_HEADER 4096   /* bytes of one part's headers */
#define METER_MULTIPART_MAX_PARTS 64      /* parts in one body */
#define METER_MULTIPART_MAX_PADDING 64    /* blanks after a delimiter */
#define METER_MULTIPART_MAX_FILENAME 256  /* bytes kept of the file name */
#define METER_MULTIPART_MAX_FILE_TYPE 128 /* bytes kept of its Content-Type */

/* Bytes of the file part, in order, in pieces of any size. */
typedef void (*meter_multipart_file_fn)(void *arg, const char *p, size_t n);

struct meter_multipart;

/*
 * content_type is the request's Content-Type value; it must be
 * multipart/form-data with a boundary parameter (token or quoted string,
 * 1-70 characters of RFC 2046 bchars).  on_file (may be NULL) receives the
 * bytes of the first part named "file" that has a filename, with arg.
 * Returns NULL with *errstr set when the header is unusable or memory runs
 * out.  Free with meter_multipart_free (NULL is fine).
 */
struct meter_multipart *meter_multipart_new(const char *content_type,
                                            meter_multipart_file_fn on_file,
                                            void *arg, const char **errstr);
void meter_multipart_free(struct meter_multipart *mp);

/*
 * Feeds the next n body bytes.  Returns 0, or -1 once the body is
 * malformed (meter_multipart_error says why); after -1 every call returns
 * -1.  Bytes after the closing delimiter (the epilogue) are ignored.
 */
int meter_multipart_feed(struct meter_multipart *mp, const char *p, size_t n);

/* End of body: 0 when the closing delimiter was seen, else -1 (an earlier
 * error, or "truncated"). */
int meter_multipart_end(struct meter_multipart *mp);

/* Why feed or end returned -1; NULL while there is no error. */
const char *meter_multipart_error(const struct meter_multipart *mp);

/*
 * A kept field's value (NUL-terminated), or NULL when no part without a
 * filename had that name.  Only "model", "response_format", "stream" and
 * "timestamp_granularities[]" are kept.  A repeated field keeps its first
 * value, except timestamp_granularities[], whose values are joined with
 * ','.  *truncated (may be NULL) is set to 1 when bytes past
 * METER_MULTIPART_MAX_FIELD were dropped, and *count (may be NULL) to the
 * number of parts with that name.
 */
const char *meter_multipart_field(const struct meter_multipart *mp,
                                  const char *name);
const char *meter_multipart_field_ex(const struct meter_multipart *mp,
                                     const char *name, int *truncated,
                                     unsigned *count);

/* The file part: has_file is 1 once its headers were read; name and type
 * are "" when absent (cut at the limits above); bytes counts its body. */
int meter_multipart_has_file(const struct meter_multipart *mp);
const char *meter_multipart_file_name(const struct meter_multipart *mp);
const char *meter_multipart_file_type(const struct meter_multipart *mp);
uint64_t meter_multipart_file_bytes(const struct meter_multipart *mp);
/* Parts named "file" with a filename; only the first reaches on_file. */
unsigned meter_multipart_file_parts(const struct meter_multipart *mp);

/* Parts begun so far, and whether the closing delimiter was seen. */
unsigned meter_multipart_parts(const struct meter_multipart *mp);
int meter_multipart_done(const struct meter_multipart *mp);

#endif
