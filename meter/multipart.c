/*
 * meter/multipart.c — incremental multipart/form-data reader (see
 * multipart.h).
 *
 * The body is cut at the delimiter CRLF "--" boundary (RFC 2046 §5.1.1).
 * The first delimiter may open the body with no CRLF before it, so the
 * matcher starts as if a CRLF had just been read.  The bytes of a partial
 * match are always a prefix of the delimiter itself, so they need no
 * buffer: on a mismatch they are handed to the current part and matching
 * restarts at the mismatching byte (a boundary holds no CR, so no shorter
 * match can hide inside a longer one).  Part headers are kept, bounded,
 * until their blank line and then read; part bodies go to a sink: a kept
 * (or only counted) field, the file callback, an upload's byte count, or
 * nowhere.
 *
 * Runs on the feeding thread; owns only its struct.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "meter/multipart.h"

enum mp_state {
	MP_DATA,        /* preamble or part body: looking for a delimiter */
	MP_AFTER_DELIM, /* a whole delimiter was just matched */
	MP_CLOSE_DASH,  /* delimiter then one '-' */
	MP_PADDING,     /* delimiter then blanks (transport padding) */
	MP_DELIM_CR,    /* delimiter [padding] CR: LF must follow */
	MP_HDR_LINE_START,
	MP_HDR_LINE,
	MP_HDR_CR,     /* CR inside the headers: LF must follow */
	MP_HDR_END_CR, /* CR on an empty line: LF ends the headers */
	MP_EPILOGUE,
	MP_ERROR,
};

enum mp_sink { SINK_NONE, SINK_FIELD, SINK_FILE, SINK_UPLOAD };

/*
 * The fields tracked.  A name ending in "[]" is an array, joined with ',';
 * a count-only field has its bytes counted and its text dropped (a prompt
 * may be private and long).
 */
static const struct {
	const char *name;
	int count_only;
} mp_fields[] = {
    {"model", 0},   {"response_format", 0},
    {"stream", 0},  {"timestamp_granularities[]", 0},
    {"n", 0},       {"size", 0},
    {"quality", 0}, {"prompt", 1},
};
#define MP_NFIELDS (sizeof(mp_fields) / sizeof(mp_fields[0]))

struct mp_field {
	char val[METER_MULTIPART_MAX_FIELD + 1];
	size_t len;
	int truncated;
	unsigned count;
	uint64_t bytes; /* of every value, kept or not */
};

struct meter_multipart {
	meter_multipart_file_fn on_file;
	void *arg;
	enum mp_state state;
	const char *err;
	/* CRLF "--" boundary */
	char delim[4 + METER_MULTIPART_MAX_BOUNDARY];
	size_t delimlen;
	size_t match; /* bytes of delim matched */
	size_t padding;
	unsigned parts;
	int done;
	int started; /* a byte was fed */
	/* part names whose first one with a filename is "the file" */
	char file_names[METER_MULTIPART_MAX_FILE_NAMES + 1];
	/* the part in progress */
	enum mp_sink sink;
	struct mp_field *field;
	int keep; /* SINK_FIELD: append to field->val */
	char hdr[METER_MULTIPART_MAX_HEADER];
	size_t hdrlen;
	/* results */
	struct mp_field fields[MP_NFIELDS];
	int has_file;
	unsigned file_parts;
	char file_name[METER_MULTIPART_MAX_FILENAME + 1];
	char file_type[METER_MULTIPART_MAX_FILE_TYPE + 1];
	uint64_t file_bytes;
	unsigned upload_parts;
	uint64_t upload_bytes;
};

/* --- header values (RFC 7231 §3.1.1.1 parameters, RFC 7578 §4.2) ----- */

static int
mp_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Appends c to buf (cap bytes with the NUL), noting a cut. */
static void
mp_put(char *buf, size_t cap, size_t *len, int *cut, char c)
{
	if (*len + 1 < cap)
		buf[(*len)++] = c;
	else
		*cut = 1;
	buf[*len] = '\0';
}

struct mp_param {
	char name[32];
	size_t namelen;
	int name_cut;
	char val[METER_MULTIPART_MAX_BOUNDARY + METER_MULTIPART_MAX_FILENAME];
	size_t vallen;
	int val_cut;
	int quoted;
};

/*
 * Reads the parameter at s (before end): `; name = value` with value a
 * token or a quoted string (backslash escapes).  Returns where the next
 * one starts, or NULL when there is none.
 */
static const char *
mp_next_param(const char *s, const char *end, struct mp_param *pm)
{
	memset(pm, 0, sizeof(*pm));
	while (s < end && (mp_is_ows(*s) || *s == ';'))
		s++;
	if (s == end)
		return NULL;
	for (; s < end && *s != '=' && *s != ';' && !mp_is_ows(*s); s++)
		mp_put(pm->name, sizeof(pm->name), &pm->namelen, &pm->name_cut,
		       *s);
	while (s < end && mp_is_ows(*s))
		s++;
	if (s == end || *s != '=')
		return s;
	for (s++; s < end && mp_is_ows(*s); s++)
		;
	if (s < end && *s == '"') {
		pm->quoted = 1;
		for (s++; s < end && *s != '"'; s++) {
			if (*s == '\\' && s + 1 < end)
				s++;
			mp_put(pm->val, sizeof(pm->val), &pm->vallen,
			       &pm->val_cut, *s);
		}
		if (s < end)
			s++; /* closing quote */
		return s;
	}
	for (; s < end && *s != ';' && !mp_is_ows(*s); s++)
		mp_put(pm->val, sizeof(pm->val), &pm->vallen, &pm->val_cut, *s);
	return s;
}

/* The end of the leading token (media type, disposition type). */
static const char *
mp_type_end(const char *s, const char *end)
{
	while (s < end && *s != ';')
		s++;
	return s;
}

/* RFC 2046 §5.1.1 bchars, with space allowed but not last. */
static int
mp_boundary_ok(const char *b, size_t n)
{
	size_t i;

	if (n < 1 || n > METER_MULTIPART_MAX_BOUNDARY || b[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || strchr("'()+_,-./:=? ", c)))
			return 0;
	}
	return 1;
}

/* Finds the boundary of content_type into mp->delim; NULL or why not. */
static const char *
mp_parse_content_type(struct meter_multipart *mp, const char *ct)
{
	const char *end = ct + strlen(ct), *s = ct, *t;
	struct mp_param pm;
	int found = 0;

	while (s < end && mp_is_ows(*s))
		s++;
	t = mp_type_end(s, end);
	while (t > s && mp_is_ows(t[-1]))
		t--;
	if ((size_t)(t - s) != strlen("multipart/form-data") ||
	    strncasecmp(s, "multipart/form-data", (size_t)(t - s)) != 0)
		return "content type is not multipart/form-data";
	s = mp_type_end(s, end);
	while ((s = mp_next_param(s, end, &pm)) != NULL) {
		if (pm.name_cut || strcasecmp(pm.name, "boundary") != 0)
			continue;
		if (found)
			return "more than one boundary parameter";
		found = 1;
		if (pm.val_cut || !mp_boundary_ok(pm.val, pm.vallen))
			return "boundary is not 1-70 RFC 2046 characters";
		memcpy(mp->delim, "\r\n--", 4);
		memcpy(mp->delim + 4, pm.val, pm.vallen);
		mp->delimlen = 4 + pm.vallen;
	}
	return found ? NULL : "no boundary parameter";
}

struct meter_multipart *
meter_multipart_new(const char *content_type, meter_multipart_file_fn on_file,
                    void *arg, const char **errstr)
{
	struct meter_multipart *mp = NULL;
	const char *why;

	if (content_type == NULL) {
		*errstr = "no content type";
		return NULL;
	}
	mp = calloc(1, sizeof(*mp));
	if (mp == NULL) {
		*errstr = "out of memory";
		return NULL;
	}
	why = mp_parse_content_type(mp, content_type);
	if (why != NULL) {
		*errstr = why;
		free(mp);
		return NULL;
	}
	mp->on_file = on_file;
	mp->arg = arg;
	strcpy(mp->file_names, "file");
	mp->state = MP_DATA;
	mp->match = 2; /* the body may open with the boundary: see above */
	return mp;
}

void
meter_multipart_free(struct meter_multipart *mp)
{
	free(mp);
}

static int
mp_fail(struct meter_multipart *mp, const char *why)
{
	mp->state = MP_ERROR;
	mp->err = why;
	return -1;
}

/* --- part bodies ------------------------------------------------------ */

/* Appends n bytes to a kept value, cutting at the limit. */
static void
mp_field_put(struct mp_field *f, const char *p, size_t n)
{
	size_t room = METER_MULTIPART_MAX_FIELD - f->len;

	if (n > room) {
		n = room;
		f->truncated = 1;
	}
	memcpy(f->val + f->len, p, n);
	f->len += n;
	f->val[f->len] = '\0';
}

static void
mp_sink(struct meter_multipart *mp, const char *p, size_t n)
{
	struct mp_field *f = mp->field;

	if (n == 0)
		return;
	switch (mp->sink) {
	case SINK_NONE:
		break;
	case SINK_FIELD:
		f->bytes += n;
		if (mp->keep)
			mp_field_put(f, p, n);
		break;
	case SINK_FILE:
		mp->file_bytes += n;
		mp->upload_bytes += n;
		if (mp->on_file != NULL)
			mp->on_file(mp->arg, p, n);
		break;
	case SINK_UPLOAD:
		mp->upload_bytes += n;
		break;
	}
}

/* Looks for the delimiter; hands everything before it to the sink. */
static size_t
mp_scan_data(struct meter_multipart *mp, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (mp->match == 0) {
			const char *cr = memchr(p + i, '\r', n - i);
			size_t run =
			    cr != NULL ? (size_t)(cr - (p + i)) : n - i;

			mp_sink(mp, p + i, run);
			i += run;
			if (cr == NULL)
				break;
			mp->match = 1;
			i++;
			continue;
		}
		if (p[i] != mp->delim[mp->match]) {
			/* p[i] is examined again with match == 0 */
			mp_sink(mp, mp->delim, mp->match);
			mp->match = 0;
			continue;
		}
		i++;
		if (++mp->match == mp->delimlen) {
			mp->match = 0;
			mp->state = MP_AFTER_DELIM;
			break;
		}
	}
	return i;
}

/* --- part headers ----------------------------------------------------- */

static int
mp_field_index(const char *name)
{
	size_t i;

	for (i = 0; i < MP_NFIELDS; i++)
		if (strcmp(name, mp_fields[i].name) == 0)
			return (int)i;
	return -1;
}

/* Whether name is one of the comma-separated file part names. */
static int
mp_is_file_name(const struct meter_multipart *mp, const char *name)
{
	const char *s = mp->file_names;
	size_t n = strlen(name);

	while (*s != '\0') {
		const char *comma = strchr(s, ',');
		size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);

		if (len > 0 && len == n && memcmp(s, name, n) == 0)
			return 1;
		s += len;
		if (*s == ',')
			s++;
	}
	return 0;
}

struct mp_part {
	char name[40];
	int name_cut, has_name;
	int has_filename;
	char filename[METER_MULTIPART_MAX_FILENAME + 1];
	char type[METER_MULTIPART_MAX_FILE_TYPE + 1];
};

static void
mp_copy_cut(char *dst, size_t cap, const char *s, size_t n)
{
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Content-Disposition: form-data; name="..."; filename="..." */
static void
mp_disposition(struct mp_part *pt, const char *s, const char *end)
{
	struct mp_param pm;

	s = mp_type_end(s, end);
	while ((s = mp_next_param(s, end, &pm)) != NULL) {
		if (pm.name_cut)
			continue;
		if (strcasecmp(pm.name, "name") == 0 && !pt->has_name) {
			pt->has_name = 1;
			pt->name_cut =
			    pm.val_cut || pm.vallen >= sizeof(pt->name);
			mp_copy_cut(pt->name, sizeof(pt->name), pm.val,
			            pm.vallen);
		} else if (strcasecmp(pm.name, "filename") == 0 &&
		           !pt->has_filename) {
			pt->has_filename = 1;
			mp_copy_cut(pt->filename, sizeof(pt->filename), pm.val,
			            pm.vallen);
		} else if (strcasecmp(pm.name, "filename*") == 0) {
			/* RFC 7578 §4.2 forbids it; still marks a file. */
			pt->has_filename = 1;
		}
	}
}

/* One unfolded header line of len bytes. */
static void
mp_header_line(struct mp_part *pt, const char *line, size_t len)
{
	const char *end = line + len, *colon = memchr(line, ':', len);
	const char *name_end, *v;
	size_t namelen;

	if (colon == NULL)
		return;
	for (name_end = colon; name_end > line && mp_is_ows(name_end[-1]);
	     name_end--)
		;
	namelen = (size_t)(name_end - line);
	for (v = colon + 1; v < end && mp_is_ows(*v); v++)
		;
	while (end > v && mp_is_ows(end[-1]))
		end--;
	/* header field names are case-insensitive (RFC 7578 §4.8 via 5322) */
	if (namelen == strlen("content-disposition") &&
	    strncasecmp(line, "content-disposition", namelen) == 0)
		mp_disposition(pt, v, end);
	else if (namelen == strlen("content-type") &&
	         strncasecmp(line, "content-type", namelen) == 0)
		mp_copy_cut(pt->type, sizeof(pt->type), v, (size_t)(end - v));
}

/*
 * A part with a filename: an upload, never a field.  Every one is counted;
 * the first whose name is a file name is "the file" and reaches on_file.
 */
static void
mp_file_begin(struct meter_multipart *mp, const struct mp_part *pt)
{
	mp->upload_parts++;
	mp->sink = SINK_UPLOAD;
	if (!pt->has_name || pt->name_cut || !mp_is_file_name(mp, pt->name) ||
	    mp->file_parts++ > 0)
		return;
	mp->has_file = 1;
	memcpy(mp->file_name, pt->filename, sizeof(mp->file_name));
	memcpy(mp->file_type, pt->type, sizeof(mp->file_type));
	mp->sink = SINK_FILE;
}

/* The headers are complete: choose where this part's body goes. */
static void
mp_part_begin(struct meter_multipart *mp)
{
	struct mp_part pt;
	const char *s = mp->hdr, *end = mp->hdr + mp->hdrlen;
	int idx;

	memset(&pt, 0, sizeof(pt));
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *e = nl != NULL ? nl : end;

		mp_header_line(&pt, s, (size_t)(e - s));
		s = nl != NULL ? nl + 1 : end;
	}
	mp->sink = SINK_NONE;
	mp->field = NULL;
	mp->keep = 0;
	if (pt.has_filename) {
		mp_file_begin(mp, &pt);
		return;
	}
	if (!pt.has_name || pt.name_cut)
		return;
	idx = mp_field_index(pt.name);
	if (idx == -1)
		return;
	mp->field = &mp->fields[idx];
	mp->sink = SINK_FIELD;
	if (mp->field->count++ > 0 && !mp_fields[idx].count_only) {
		size_t nlen = strlen(mp_fields[idx].name);

		if (mp_fields[idx].name[nlen - 1] != ']')
			return; /* a repeated scalar keeps its first value */
		mp_field_put(mp->field, ",", 1);
	}
	mp->keep = !mp_fields[idx].count_only;
}

/*
 * One header byte.  Lines are kept joined by '\n'; a line that starts with
 * a blank continues the one before (obsolete folding, RFC 5322 §3.2.2).
 */
static int
mp_header_byte(struct meter_multipart *mp, char c)
{
	unsigned char u = (unsigned char)c;

	switch (mp->state) {
	case MP_HDR_LINE_START:
		if (c == '\r') {
			mp->state = MP_HDR_END_CR;
			return 0;
		}
		if (!mp_is_ows(c) && mp->hdrlen > 0) {
			if (mp->hdrlen == sizeof(mp->hdr))
				return mp_fail(mp, "part headers too long");
			mp->hdr[mp->hdrlen++] = '\n';
		}
		mp->state = MP_HDR_LINE;
		/* FALLTHROUGH */
	case MP_HDR_LINE:
		if (c == '\r') {
			mp->state = MP_HDR_CR;
			return 0;
		}
		if (c == '\n')
			return mp_fail(mp, "LF without CR in part headers");
		if ((u < 0x20 && c != '\t') || u == 0x7f)
			return mp_fail(mp, "control character in part headers");
		if (mp->hdrlen == sizeof(mp->hdr))
			return mp_fail(mp, "part headers too long");
		mp->hdr[mp->hdrlen++] = c;
		return 0;
	case MP_HDR_CR:
		if (c != '\n')
			return mp_fail(mp, "CR without LF in part headers");
		mp->state = MP_HDR_LINE_START;
		return 0;
	case MP_HDR_END_CR:
		if (c != '\n')
			return mp_fail(mp, "CR without LF in part headers");
		mp_part_begin(mp);
		mp->state = MP_DATA;
		mp->match = 0;
		return 0;
	default:
		return mp_fail(mp, "internal state");
	}
}

/* --- after a delimiter ------------------------------------------------ */

/* A delimiter, its padding and CRLF were read: a new part begins. */
static int
mp_next_part(struct meter_multipart *mp)
{
	if (++mp->parts > METER_MULTIPART_MAX_PARTS)
		return mp_fail(mp, "too many parts");
	mp->sink = SINK_NONE;
	mp->field = NULL;
	mp->keep = 0;
	mp->hdrlen = 0;
	mp->state = MP_HDR_LINE_START;
	return 0;
}

/*
 * The byte after a whole delimiter.  "--" closes the body; blanks then
 * CRLF open a part.  Anything else means the delimiter text was data
 * after all (a line that merely starts with it): it goes to the part and
 * the byte is read again.  Returns 1 when c was consumed, 0 when not,
 * -1 on error.
 */
static int
mp_after_delim(struct meter_multipart *mp, char c)
{
	switch (mp->state) {
	case MP_AFTER_DELIM:
		if (c == '-') {
			mp->state = MP_CLOSE_DASH;
			return 1;
		}
		if (mp_is_ows(c)) {
			mp->padding = 1;
			mp->state = MP_PADDING;
			return 1;
		}
		if (c == '\r') {
			mp->state = MP_DELIM_CR;
			return 1;
		}
		mp_sink(mp, mp->delim, mp->delimlen);
		mp->state = MP_DATA;
		return 0;
	case MP_CLOSE_DASH:
		if (c == '-') {
			mp->done = 1;
			mp->sink = SINK_NONE;
			mp->state = MP_EPILOGUE;
			return 1;
		}
		mp_sink(mp, mp->delim, mp->delimlen);
		mp_sink(mp, "-", 1);
		mp->state = MP_DATA;
		return 0;
	case MP_PADDING:
		if (mp_is_ows(c)) {
			if (++mp->padding > METER_MULTIPART_MAX_PADDING)
				return mp_fail(mp, "too much padding after a "
				                   "boundary");
			return 1;
		}
		if (c != '\r')
			return mp_fail(mp, "text after a boundary delimiter");
		mp->state = MP_DELIM_CR;
		return 1;
	case MP_DELIM_CR:
		if (c != '\n')
			return mp_fail(mp, "CR without LF after a boundary");
		return mp_next_part(mp) == -1 ? -1 : 1;
	default:
		return mp_fail(mp, "internal state");
	}
}

int
meter_multipart_feed(struct meter_multipart *mp, const char *p, size_t n)
{
	size_t i = 0;

	if (n > 0)
		mp->started = 1;
	while (i < n) {
		int r;

		switch (mp->state) {
		case MP_ERROR:
			return -1;
		case MP_EPILOGUE:
			return 0;
		case MP_DATA:
			i += mp_scan_data(mp, p + i, n - i);
			break;
		case MP_AFTER_DELIM:
		case MP_CLOSE_DASH:
		case MP_PADDING:
		case MP_DELIM_CR:
			r = mp_after_delim(mp, p[i]);
			if (r == -1)
				return -1;
			i += (size_t)r;
			break;
		default:
			if (mp_header_byte(mp, p[i]) == -1)
				return -1;
			i++;
			break;
		}
	}
	return mp->state == MP_ERROR ? -1 : 0;
}

int
meter_multipart_end(struct meter_multipart *mp)
{
	if (mp->state == MP_ERROR)
		return -1;
	if (!mp->done)
		return mp_fail(mp, "truncated: no closing boundary");
	return 0;
}

const char *
meter_multipart_error(const struct meter_multipart *mp)
{
	return mp->err;
}

const char *
meter_multipart_field_ex(const struct meter_multipart *mp, const char *name,
                         int *truncated, unsigned *count)
{
	int idx = mp_field_index(name);
	const struct mp_field *f;

	if (idx == -1 || mp->fields[idx].count == 0 ||
	    mp_fields[idx].count_only)
		return NULL;
	f = &mp->fields[idx];
	if (truncated != NULL)
		*truncated = f->truncated;
	if (count != NULL)
		*count = f->count;
	return f->val;
}

const char *
meter_multipart_field(const struct meter_multipart *mp, const char *name)
{
	return meter_multipart_field_ex(mp, name, NULL, NULL);
}

unsigned
meter_multipart_field_count(const struct meter_multipart *mp, const char *name)
{
	int idx = mp_field_index(name);

	return idx == -1 ? 0 : mp->fields[idx].count;
}

uint64_t
meter_multipart_field_bytes(const struct meter_multipart *mp, const char *name)
{
	int idx = mp_field_index(name);

	return idx == -1 ? 0 : mp->fields[idx].bytes;
}

int
meter_multipart_set_file_names(struct meter_multipart *mp, const char *names)
{
	if (mp->started || strlen(names) > METER_MULTIPART_MAX_FILE_NAMES)
		return -1;
	strcpy(mp->file_names, names);
	return 0;
}

unsigned
meter_multipart_upload_parts(const struct meter_multipart *mp)
{
	return mp->upload_parts;
}

uint64_t
meter_multipart_upload_bytes(const struct meter_multipart *mp)
{
	return mp->upload_bytes;
}

int
meter_multipart_has_file(const struct meter_multipart *mp)
{
	return mp->has_file;
}

const char *
meter_multipart_file_name(const struct meter_multipart *mp)
{
	return mp->file_name;
}

const char *
meter_multipart_file_type(const struct meter_multipart *mp)
{
	return mp->file_type;
}

uint64_t
meter_multipart_file_bytes(const struct meter_multipart *mp)
{
	return mp->file_bytes;
}

unsigned
meter_multipart_file_parts(const struct meter_multipart *mp)
{
	return mp->file_parts;
}

unsigned
meter_multipart_parts(const struct meter_multipart *mp)
{
	return mp->parts;
}

int
meter_multipart_done(const struct meter_multipart *mp)
{
	return mp->done;
}
