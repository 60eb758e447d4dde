/*
 * meter/multipart.h — incremental multipart/form-data reader (RFC 7578 on
 * RFC 2046 §5.1).
 *
 * A request body streams through once, in any split.  The reader keeps the
 * few small text fields the meter needs (model, response_format, stream,
 * timestamp_granularities[] for audio; n, size, quality for images), counts
 * the bytes of prompt without keeping its text, and hands the bytes of the
 * uploaded file to a callback as they arrive, counting them.  Every other
 * part with a filename (images, masks) is only counted; the body is never
 * held.  Memory is one fixed struct: the boundary, one part's headers, the
 * file part names and the kept fields.
 *
 * A part is a file part when its Content-Disposition has a filename (or
 * filename*) parameter, whatever its name; such a part is never a field.
 */
#ifndef METER_MULTIPART_H
#define METER_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define METER_MULTIPART_MAX_BOUNDARY 70    /* bytes; RFC 2046 §5.1.1 */
#define METER_MULTIPART_MAX_FIELD 256      /* bytes kept of a field value */
#define METER_MULTIPART_MAX_HEADER 4096    /* bytes of one part's headers */
#define METER_MULTIPART_MAX_PARTS 64       /* parts in one body */
#define METER_MULTIPART_MAX_PADDING 64     /* blanks after a delimiter */
#define METER_MULTIPART_MAX_FILENAME 256   /* bytes kept of the file name */
#define METER_MULTIPART_MAX_FILE_TYPE 128  /* bytes kept of its Content-Type */
#define METER_MULTIPART_MAX_FILE_NAMES 127 /* bytes of the file names list */

/* Bytes of the file part, in order, in pieces of any size. */
typedef void (*meter_multipart_file_fn)(void *arg, const char *p, size_t n);

struct meter_multipart;

/*
 * content_type is the request's Content-Type value; it must be
 * multipart/form-data with a boundary parameter (token or quoted string,
 * 1-70 characters of RFC 2046 bchars).  on_file (may be NULL) receives the
 * bytes of the first part named "file" (or one of the names given to
 * meter_multipart_set_file_names) that has a filename, with arg.
 * Returns NULL with *errstr set when the header is unusable or memory runs
 * out.  Free with meter_multipart_free (NULL is fine).
 */
struct meter_multipart *meter_multipart_new(const char *content_type,
                                            meter_multipart_file_fn on_file,
                                            void *arg, const char **errstr);
void meter_multipart_free(struct meter_multipart *mp);

/*
 * Which part names are "the file" (the part reaching on_file and described
 * by meter_multipart_file_*): a comma-separated list of exact names, e.g.
 * "image,image[]" for /v1/images/edits; "" means none (an empty entry
 * matches no part).  The default is "file".  Only before the first byte is fed;
 * names is copied.  Returns 0, or -1 (nothing changed) once feeding began or
 * when names is longer than METER_MULTIPART_MAX_FILE_NAMES.
 */
int meter_multipart_set_file_names(struct meter_multipart *mp,
                                   const char *names);

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
 * filename had that name.  Only "model", "response_format", "stream",
 * "timestamp_granularities[]", "n", "size" and "quality" are kept (names
 * are case-sensitive, RFC 7578 §4.2).  A repeated field keeps its first
 * value, except timestamp_granularities[], whose values are joined with
 * ','.  *truncated (may be NULL) is set to 1 when bytes past
 * METER_MULTIPART_MAX_FIELD were dropped, and *count (may be NULL) to the
 * number of parts with that name.  Values are as sent: the caller trims
 * and validates ("2", " 2", "1024x1024").  "prompt" is never kept: NULL.
 */
const char *meter_multipart_field(const struct meter_multipart *mp,
                                  const char *name);
const char *meter_multipart_field_ex(const struct meter_multipart *mp,
                                     const char *name, int *truncated,
                                     unsigned *count);

/*
 * For any field above and "prompt": the number of parts without a filename
 * that had that name, and the bytes of all their values (every byte, past
 * the kept limit too; joining commas not included).  0 for other names.
 */
unsigned meter_multipart_field_count(const struct meter_multipart *mp,
                                     const char *name);
uint64_t meter_multipart_field_bytes(const struct meter_multipart *mp,
                                     const char *name);

/* The file part: has_file is 1 once its headers were read; name and type
 * are "" when absent (cut at the limits above); bytes counts its body. */
int meter_multipart_has_file(const struct meter_multipart *mp);
const char *meter_multipart_file_name(const struct meter_multipart *mp);
const char *meter_multipart_file_type(const struct meter_multipart *mp);
uint64_t meter_multipart_file_bytes(const struct meter_multipart *mp);
/* Parts with a filename whose name is a file name (see
 * meter_multipart_set_file_names); only the first reaches on_file. */
unsigned meter_multipart_file_parts(const struct meter_multipart *mp);

/* Every part with a filename, whatever its name (the file part included),
 * and the bytes of all their bodies.  They are counted, never held. */
unsigned meter_multipart_upload_parts(const struct meter_multipart *mp);
uint64_t meter_multipart_upload_bytes(const struct meter_multipart *mp);

/* Parts begun so far, and whether the closing delimiter was seen. */
unsigned meter_multipart_parts(const struct meter_multipart *mp);
int meter_multipart_done(const struct meter_multipart *mp);

#endif
