/*
 * meter/jscan.c — incremental structural JSON scanner (see jscan.h).
 *
 * A byte-at-a-time state machine with a fixed-size container stack.  Runs on
 * whichever thread feeds it; owns nothing but its own struct.  Strings are
 * skipped with a tight loop since request and response bodies are mostly
 * long strings (base64 images, message text) and number arrays (embeddings).
 */
#include <stdlib.h>
#include <string.h>

#include "meter/jscan.h"

enum js_state {
	JS_VALUE,     /* a value must come next */
	JS_ARR_FIRST, /* after '[': a value or ']' */
	JS_OBJ_FIRST, /* after '{': a key or '}' */
	JS_KEY,       /* after ',' in an object: a key */
	JS_IN_KEY,
	JS_COLON,
	JS_IN_STRING,
	JS_IN_NUMBER,
	JS_IN_LITERAL,
	JS_AFTER, /* after a value: ',' or a closer, or end at the root */
	JS_ERROR,
};

struct js_frame {
	char key[METER_JSCAN_MAX_KEY + 1];
	size_t keylen;
	int key_cut;
	int key_esc;        /* the key has a backslash escape */
	uint64_t key_begin; /* offset of the key's opening quote */
	uint64_t sep;       /* offset of the last ',' at this level */
	uint64_t count;
};

struct meter_jscan {
	meter_jscan_cb cb;
	void *arg;
	enum js_state state;
	int escape; /* inside a string, after a backslash */
	int uhex;   /* \u hex digits still expected */
	int depth;
	int done;     /* the root value is complete */
	uint64_t off; /* offset of the byte being processed */
	const char *error;
	char is_obj[METER_JSCAN_MAX_DEPTH];
	struct js_frame frame[METER_JSCAN_TRACK_DEPTH];
	/* the scalar being read */
	char text[METER_JSCAN_MAX_SCALAR];
	size_t textlen;
	uint64_t full_len;
	uint64_t vbegin;
	const char *literal; /* "true", "false" or "null" while matching */
	size_t litpos;
	int num; /* position in the number grammar (js_number) */
};

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
enum js_num {
	N_SIGN,     /* after '-': a digit must follow */
	N_ZERO,     /* a leading 0: '.', 'e' or the end */
	N_INT,      /* integer digits */
	N_DOT,      /* after '.': a digit must follow */
	N_FRAC,     /* fraction digits */
	N_EXP,      /* after 'e': sign or digit */
	N_EXP_SIGN, /* after the exponent sign: a digit */
	N_EXP_DIGITS,
};

struct meter_jscan *
meter_jscan_new(meter_jscan_cb cb, void *arg)
{
	struct meter_jscan *js = calloc(1, sizeof(*js));

	if (js == NULL)
		return NULL;
	js->cb = cb;
	js->arg = arg;
	meter_jscan_reset(js);
	return js;
}

void
meter_jscan_free(struct meter_jscan *js)
{
	free(js);
}

void
meter_jscan_reset(struct meter_jscan *js)
{
	meter_jscan_cb cb = js->cb;
	void *arg = js->arg;

	memset(js, 0, offsetof(struct meter_jscan, is_obj));
	js->cb = cb;
	js->arg = arg;
	js->state = JS_VALUE;
	js->frame[0].count = 0;
}

static int
js_fail(struct meter_jscan *js, const char *why)
{
	js->state = JS_ERROR;
	js->error = why;
	return -1;
}

/* The frame describing the container at level d, if it is tracked. */
static struct js_frame *
js_frame_at(struct meter_jscan *js, int d)
{
	return d < METER_JSCAN_TRACK_DEPTH ? &js->frame[d] : NULL;
}

/* Fills the parts of v that describe where the current value sits. */
static void
js_position(struct meter_jscan *js, struct meter_jscan_value *v, uint64_t begin)
{
	struct js_frame *f =
	    js->depth > 0 ? js_frame_at(js, js->depth - 1) : NULL;

	v->begin = begin;
	v->member_begin = begin;
	v->sep = UINT64_MAX;
	if (f != NULL) {
		if (js->is_obj[js->depth - 1])
			v->member_begin = f->key_begin;
		if (f->count > 0)
			v->sep = f->sep;
	}
}

/* A value at the current level is complete: count it, move on. */
static void
js_value_done(struct meter_jscan *js)
{
	struct js_frame *f;

	if (js->depth == 0) {
		js->done = 1;
	} else if ((f = js_frame_at(js, js->depth - 1)) != NULL) {
		f->count++;
	}
	js->state = JS_AFTER;
}

static void
js_emit_scalar(struct meter_jscan *js, enum meter_jscan_kind kind, uint64_t end)
{
	struct meter_jscan_value v;

	memset(&v, 0, sizeof(v));
	v.event = METER_JSCAN_SCALAR;
	v.kind = kind;
	v.text = js->text;
	v.len = js->textlen;
	v.full_len = js->full_len;
	v.cut = js->full_len > js->textlen;
	js_position(js, &v, js->vbegin);
	v.end = end;
	if (js->cb != NULL)
		js->cb(js->arg, js, &v);
	js_value_done(js);
}

static int
js_open(struct meter_jscan *js, int is_obj)
{
	struct meter_jscan_value v;
	struct js_frame *f;

	if (js->depth >= METER_JSCAN_MAX_DEPTH)
		return js_fail(js, "nesting too deep");
	memset(&v, 0, sizeof(v));
	v.event = is_obj ? METER_JSCAN_OBJ_BEGIN : METER_JSCAN_ARR_BEGIN;
	v.kind = METER_JSCAN_CONTAINER;
	js_position(js, &v, js->off);
	v.end = js->off + 1;
	if (js->cb != NULL)
		js->cb(js->arg, js, &v);
	js->is_obj[js->depth] = (char)is_obj;
	if ((f = js_frame_at(js, js->depth)) != NULL) {
		f->keylen = 0;
		f->key_cut = 0;
		f->count = 0;
		f->sep = UINT64_MAX;
	}
	js->depth++;
	js->state = is_obj ? JS_OBJ_FIRST : JS_ARR_FIRST;
	return 0;
}

static int
js_close(struct meter_jscan *js, int is_obj)
{
	struct meter_jscan_value v;
	struct js_frame *f;
	uint64_t count = 0;

	if (js->depth == 0 || js->is_obj[js->depth - 1] != is_obj)
		return js_fail(js, "mismatched bracket");
	if ((f = js_frame_at(js, js->depth - 1)) != NULL)
		count = f->count;
	js->depth--;
	memset(&v, 0, sizeof(v));
	v.event = is_obj ? METER_JSCAN_OBJ_END : METER_JSCAN_ARR_END;
	v.kind = METER_JSCAN_CONTAINER;
	v.count = count;
	js_position(js, &v, 0);
	v.begin = UINT64_MAX; /* not kept: callers use the BEGIN event */
	v.end = js->off + 1;
	if (js->cb != NULL)
		js->cb(js->arg, js, &v);
	js_value_done(js);
	return 0;
}

static void
js_text_start(struct meter_jscan *js, uint64_t begin)
{
	js->textlen = 0;
	js->full_len = 0;
	js->vbegin = begin;
}

static void
js_text_add(struct meter_jscan *js, const char *p, size_t n)
{
	size_t room = sizeof(js->text) - js->textlen;

	if (n > room) {
		memcpy(js->text + js->textlen, p, room);
		js->textlen += room;
	} else {
		memcpy(js->text + js->textlen, p, n);
		js->textlen += n;
	}
	js->full_len += n;
}

/* Starts the value whose first byte is c. */
static int
js_value_start(struct meter_jscan *js, char c)
{
	switch (c) {
	case '{':
		return js_open(js, 1);
	case '[':
		return js_open(js, 0);
	case '"':
		js_text_start(js, js->off);
		js->state = JS_IN_STRING;
		return 0;
	case 't':
		js->literal = "true";
		break;
	case 'f':
		js->literal = "false";
		break;
	case 'n':
		js->literal = "null";
		break;
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			js_text_start(js, js->off);
			js_text_add(js, &c, 1);
			js->num = c == '-' ? N_SIGN : c == '0' ? N_ZERO : N_INT;
			js->state = JS_IN_NUMBER;
			return 0;
		}
		return js_fail(js,
		               "unexpected character where a value belongs");
	}
	js_text_start(js, js->off);
	js_text_add(js, &c, 1);
	js->litpos = 1;
	js->state = JS_IN_LITERAL;
	return 0;
}

static int
js_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Scans string bytes from p; returns how many were consumed.  Stops after
 * the closing quote (setting *closed) or at the end of the input.
 */
static size_t
js_string_run(struct meter_jscan *js, const char *p, size_t n, int *closed)
{
	size_t i;

	*closed = 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (js->uhex > 0) {
			if (!((c >= '0' && c <= '9') ||
			      (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F'))) {
				js_fail(js, "bad \\u escape");
				return i;
			}
			js->uhex--;
		} else if (js->escape) {
			js->escape = 0;
			if (c == 'u')
				js->uhex = 4;
			else if (strchr("\"\\/bfnrt", c) == NULL || c == 0) {
				js_fail(js, "bad escape in string");
				return i;
			}
		} else if (c == '\\') {
			js->escape = 1;
		} else if (c == '"') {
			*closed = 1;
			return i + 1;
		} else if (c < 0x20) {
			js_fail(js, "control character in string");
			return i;
		}
	}
	return n;
}

static int
js_key_byte_run(struct meter_jscan *js, const char *p, size_t n, size_t *used)
{
	struct js_frame *f = js_frame_at(js, js->depth - 1);
	int closed;
	size_t k = js_string_run(js, p, n, &closed);

	*used = k;
	if (js->state == JS_ERROR)
		return -1;
	if (f != NULL) {
		size_t body = closed ? k - 1 : k;
		size_t room = METER_JSCAN_MAX_KEY - f->keylen;

		if (memchr(p, '\\', body) != NULL)
			f->key_esc = 1;
		if (body > room) {
			f->key_cut = 1;
			body = room;
		}
		memcpy(f->key + f->keylen, p, body);
		f->keylen += body;
		f->key[f->keylen] = '\0';
	}
	if (closed)
		js->state = JS_COLON;
	return 0;
}

static int
js_string_bytes(struct meter_jscan *js, const char *p, size_t n, size_t *used)
{
	int closed;
	size_t k = js_string_run(js, p, n, &closed);

	*used = k;
	if (js->state == JS_ERROR)
		return -1;
	js_text_add(js, p, closed ? k - 1 : k);
	if (closed)
		js_emit_scalar(js, METER_JSCAN_STRING, js->off + k);
	return 0;
}

/* Next number-grammar state after c, or -1 when c ends the number. */
static int
js_num_next(int st, char c)
{
	int digit = c >= '0' && c <= '9';

	switch (st) {
	case N_SIGN:
		return c == '0' ? N_ZERO : digit ? N_INT : -2;
	case N_ZERO:
		return c == '.' ? N_DOT : (c == 'e' || c == 'E') ? N_EXP : -1;
	case N_INT:
		return digit                    ? N_INT
		       : c == '.'               ? N_DOT
		       : (c == 'e' || c == 'E') ? N_EXP
		                                : -1;
	case N_DOT:
		return digit ? N_FRAC : -2;
	case N_FRAC:
		return digit ? N_FRAC : (c == 'e' || c == 'E') ? N_EXP : -1;
	case N_EXP:
		return (c == '+' || c == '-') ? N_EXP_SIGN
		       : digit                ? N_EXP_DIGITS
		                              : -2;
	case N_EXP_SIGN:
		return digit ? N_EXP_DIGITS : -2;
	default:
		return digit ? N_EXP_DIGITS : -1;
	}
}

/* A number may end only after a digit. */
static int
js_num_complete(int st)
{
	return st == N_ZERO || st == N_INT || st == N_FRAC ||
	       st == N_EXP_DIGITS;
}

static int
js_number_byte(struct meter_jscan *js, char c, int *reprocess)
{
	int next = js_num_next(js->num, c);

	if (next >= 0) {
		js->num = next;
		js_text_add(js, &c, 1);
		return 0;
	}
	if (next == -2 || !js_num_complete(js->num))
		return js_fail(js, "malformed number");
	js_emit_scalar(js, METER_JSCAN_NUMBER, js->off);
	*reprocess = 1;
	return 0;
}

static int
js_literal_byte(struct meter_jscan *js, char c)
{
	if (js->literal[js->litpos] != c)
		return js_fail(js, "bad literal");
	js_text_add(js, &c, 1);
	if (js->literal[++js->litpos] == '\0') {
		enum meter_jscan_kind k =
		    js->literal[0] == 't'   ? METER_JSCAN_TRUE
		    : js->literal[0] == 'f' ? METER_JSCAN_FALSE
		                            : METER_JSCAN_NULL;
		js_emit_scalar(js, k, js->off + 1);
	}
	return 0;
}

/* Handles one structural byte (outside strings, numbers and literals). */
static int
js_struct_byte(struct meter_jscan *js, char c)
{
	struct js_frame *f;

	if (js_is_space(c))
		return 0;
	switch (js->state) {
	case JS_VALUE:
		return js_value_start(js, c);
	case JS_ARR_FIRST:
		if (c == ']')
			return js_close(js, 0);
		return js_value_start(js, c);
	case JS_OBJ_FIRST:
	case JS_KEY:
		if (c == '}' && js->state == JS_OBJ_FIRST)
			return js_close(js, 1);
		if (c != '"')
			return js_fail(js, "expected a member name");
		if ((f = js_frame_at(js, js->depth - 1)) != NULL) {
			f->keylen = 0;
			f->key_cut = 0;
			f->key_esc = 0;
			f->key[0] = '\0';
			f->key_begin = js->off;
		}
		js->state = JS_IN_KEY;
		return 0;
	case JS_COLON:
		if (c != ':')
			return js_fail(js, "expected ':'");
		js->state = JS_VALUE;
		return 0;
	case JS_AFTER:
		if (js->depth == 0)
			return js_fail(js, "trailing data after the value");
		if (c == ',') {
			if ((f = js_frame_at(js, js->depth - 1)) != NULL)
				f->sep = js->off;
			js->state =
			    js->is_obj[js->depth - 1] ? JS_KEY : JS_VALUE;
			return 0;
		}
		if (c == '}' || c == ']')
			return js_close(js, c == '}');
		return js_fail(js, "expected ',' or a closing bracket");
	default:
		return js_fail(js, "internal state");
	}
}

int
meter_jscan_feed(struct meter_jscan *js, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		int reprocess = 0;
		size_t used = 1;
		int rc = 0;

		switch (js->state) {
		case JS_ERROR:
			return -1;
		case JS_IN_STRING:
			rc = js_string_bytes(js, buf + i, len - i, &used);
			break;
		case JS_IN_KEY:
			rc = js_key_byte_run(js, buf + i, len - i, &used);
			break;
		case JS_IN_NUMBER:
			rc = js_number_byte(js, buf[i], &reprocess);
			break;
		case JS_IN_LITERAL:
			rc = js_literal_byte(js, buf[i]);
			break;
		default:
			rc = js_struct_byte(js, buf[i]);
			break;
		}
		if (rc == -1 || js->state == JS_ERROR)
			return -1;
		if (reprocess)
			continue;
		i += used;
		js->off += used;
	}
	return 0;
}

int
meter_jscan_finish(struct meter_jscan *js)
{
	if (js->state == JS_IN_NUMBER && js->depth == 0) {
		if (!js_num_complete(js->num))
			return js_fail(js, "malformed number");
		js_emit_scalar(js, METER_JSCAN_NUMBER, js->off);
	}
	if (js->state == JS_ERROR)
		return -1;
	if (!js->done || js->state != JS_AFTER)
		return js_fail(js, "document ends early");
	return 0;
}

const char *
meter_jscan_error(const struct meter_jscan *js)
{
	return js->error != NULL ? js->error : "no error";
}

uint64_t
meter_jscan_offset(const struct meter_jscan *js)
{
	return js->off;
}

int
meter_jscan_depth(const struct meter_jscan *js)
{
	return js->depth;
}

int
meter_jscan_at(const struct meter_jscan *js, const char *path)
{
	return meter_jscan_at_from(js, 0, path);
}

int
meter_jscan_at_from(const struct meter_jscan *js, int level, const char *path)
{
	int d = level;

	if (*path == '\0')
		return js->depth == level;
	if (js->depth > METER_JSCAN_TRACK_DEPTH)
		return 0;
	while (d < js->depth) {
		const char *dot = strchr(path, '.');
		size_t n = dot != NULL ? (size_t)(dot - path) : strlen(path);
		const struct js_frame *f = &js->frame[d];

		if (!(n == 1 && path[0] == '*')) {
			if (!js->is_obj[d] || f->key_cut || f->keylen != n ||
			    memcmp(f->key, path, n) != 0)
				return 0;
		}
		d++;
		if (dot == NULL)
			return d == js->depth;
		path = dot + 1;
	}
	return 0;
}

const char *
meter_jscan_key(const struct meter_jscan *js, int level, size_t *len)
{
	const struct js_frame *f;

	if (level < 0 || level >= js->depth ||
	    level >= METER_JSCAN_TRACK_DEPTH || !js->is_obj[level])
		return NULL;
	f = &js->frame[level];
	if (f->key_cut)
		return NULL;
	*len = f->keylen;
	return f->key;
}

int
meter_jscan_key_escaped(const struct meter_jscan *js, int level)
{
	return level >= 0 && level < js->depth &&
	       level < METER_JSCAN_TRACK_DEPTH && js->is_obj[level] &&
	       js->frame[level].key_esc;
}

void
meter_jscan_copy(char *dst, size_t cap, const struct meter_jscan_value *v)
{
	size_t n = v->len < cap - 1 ? v->len : cap - 1;

	memcpy(dst, v->text, n);
	dst[n] = '\0';
}

int
meter_jscan_uint(const struct meter_jscan_value *v, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (v->event != METER_JSCAN_SCALAR || v->kind != METER_JSCAN_NUMBER ||
	    v->cut || v->len == 0)
		return -1;
	for (i = 0; i < v->len; i++) {
		char c = v->text[i];

		if (c < '0' || c > '9')
			return -1;
		if (n > UINT64_MAX / 10 ||
		    (n == UINT64_MAX / 10 &&
		     (uint64_t)(c - '0') > UINT64_MAX % 10))
			return -1;
		n = n * 10 + (uint64_t)(c - '0');
	}
	*out = n;
	return 0;
}
