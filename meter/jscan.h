/*
 * meter/jscan.h — incremental, structural JSON scanner.
 *
 * Push bytes in any split; the scanner calls back for every scalar and every
 * container start/end with the path that leads to it and its byte offsets in
 * the document.  It never holds the document: memory is a fixed struct
 * whatever the input size.  Callers match paths structurally, so text inside
 * a string ("usage":{"prompt_tokens":999} in a message) is never mistaken for
 * a member.
 */
#ifndef METER_JSCAN_H
#define METER_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#define METER_JSCAN_MAX_DEPTH 512  /* nesting levels; deeper is malformed */
#define METER_JSCAN_TRACK_DEPTH 8  /* levels whose member keys are kept */
#define METER_JSCAN_MAX_KEY 40     /* key bytes kept; longer never match */
#define METER_JSCAN_MAX_SCALAR 160 /* scalar bytes kept (text is cut) */

struct meter_jscan;

enum meter_jscan_event {
	METER_JSCAN_SCALAR,
	METER_JSCAN_OBJ_BEGIN,
	METER_JSCAN_OBJ_END,
	METER_JSCAN_ARR_BEGIN,
	METER_JSCAN_ARR_END,
};

enum meter_jscan_kind {
	METER_JSCAN_STRING,
	METER_JSCAN_NUMBER,
	METER_JSCAN_TRUE,
	METER_JSCAN_FALSE,
	METER_JSCAN_NULL,
	METER_JSCAN_CONTAINER,
};

/* One callback's worth of information; valid only during the callback. */
struct meter_jscan_value {
	enum meter_jscan_event event;
	enum meter_jscan_kind kind;
	const char *text; /* scalar text; strings: raw bytes between the quotes,
	                     escapes left as written */
	size_t len;       /* bytes in text (<= METER_JSCAN_MAX_SCALAR) */
	uint64_t full_len;     /* whole scalar length (strings: raw bytes) */
	int cut;               /* text is a prefix of the scalar */
	uint64_t member_begin; /* offset of the member's key quote, or of the
	                          value for array elements / the root */
	uint64_t sep;          /* offset of the ',' before this member or
	                          element, UINT64_MAX for the first one */
	uint64_t begin;        /* offset of the value's first byte */
	uint64_t end;          /* offset one past the value (END/SCALAR) */
	uint64_t count;        /* ARR_END/OBJ_END: elements / members */
	/* sep and count are kept for the first METER_JSCAN_TRACK_DEPTH
	 * levels only; deeper they read UINT64_MAX and 0. */
};

typedef void (*meter_jscan_cb)(void *arg, const struct meter_jscan *js,
                               const struct meter_jscan_value *v);

/* Allocates a scanner calling cb(arg, ...). NULL on allocation failure. */
struct meter_jscan *meter_jscan_new(meter_jscan_cb cb, void *arg);
void meter_jscan_free(struct meter_jscan *js);

/* Forget everything; the next byte starts a new document at offset 0. */
void meter_jscan_reset(struct meter_jscan *js);

/*
 * Feeds len bytes.  0 while the input is well formed so far, -1 once it is
 * not (then every further feed returns -1 and meter_jscan_error says why).
 * Whitespace after the root value is accepted; anything else is not.
 */
int meter_jscan_feed(struct meter_jscan *js, const char *buf, size_t len);

/* 0 when exactly one complete value was fed, -1 otherwise. */
int meter_jscan_finish(struct meter_jscan *js);

const char *meter_jscan_error(const struct meter_jscan *js);
uint64_t meter_jscan_offset(const struct meter_jscan *js);

/* Number of containers enclosing the current value (root value: 0). */
int meter_jscan_depth(const struct meter_jscan *js);

/*
 * Does the current value sit at `path`?  Path is dot-separated member keys,
 * "*" matches any key or array element: "usage.prompt_tokens",
 * "choices.*.delta.content".  "" is the root.  Exact depth match.
 */
int meter_jscan_at(const struct meter_jscan *js, const char *path);

/* The same, matching path against the levels from `level` on (a value
 * nested under one wrapper key: level 1). */
int meter_jscan_at_from(const struct meter_jscan *js, int level,
                        const char *path);

/*
 * Member key of the container at `level` (0 = the root container) on the
 * path to the current value; NULL for an array level, an untracked level
 * or a key too long to keep.  Valid until the next feed.
 */
const char *meter_jscan_key(const struct meter_jscan *js, int level,
                            size_t *len);

/* Was the member key at level written with a backslash escape
 * ("mod\u0065l")?  Such a key never matches a path. */
int meter_jscan_key_escaped(const struct meter_jscan *js, int level);

/* Copies a scalar's kept text into dst (cap bytes, NUL-terminated, cut
 * to fit). */
void meter_jscan_copy(char *dst, size_t cap, const struct meter_jscan_value *v);

/* Parses a NUMBER scalar as a non-negative integer; -1 if it is not one. */
int meter_jscan_uint(const struct meter_jscan_value *v, uint64_t *out);

#endif
