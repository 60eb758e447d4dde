/*
 * meter/sse.h — incremental server-sent-events parser (WHATWG event stream).
 *
 * Push raw stream bytes in any split.  Data-field bytes are handed on as they
 * arrive (several data lines joined with '\n', as the spec joins them), so an
 * event is never buffered here; a blank line ends the event.  Lines may end
 * in CR, LF or CRLF.  Memory is this fixed struct.
 */
#ifndef METER_SSE_H
#define METER_SSE_H

#include <stddef.h>
#include <stdint.h>

#define METER_SSE_MAX_FIELD 16      /* field-name bytes; longer are ignored */
#define METER_SSE_MAX_EVENT_TYPE 96 /* `event:` value bytes kept */

struct meter_sse_callbacks {
	/* A data line's value starts at raw stream offset off (not called
	 * for a data line with an empty value). */
	void (*data_line)(void *arg, uint64_t off);
	/* Data of the current event, in pieces. */
	void (*data)(void *arg, const char *buf, size_t len);
	/*
	 * A blank line ended an event (or a block of comments).  type is the
	 * `event:` value ("" when none), has_data whether any data line came,
	 * end the stream offset one past the blank line.
	 */
	void (*dispatch)(void *arg, const char *type, size_t typelen,
	                 int has_data, uint64_t end);
};

struct meter_sse;

struct meter_sse *meter_sse_new(const struct meter_sse_callbacks *cbs,
                                void *arg);
void meter_sse_free(struct meter_sse *sse);

/*
 * Feeds raw bytes; returns how many were consumed.  It stops just after a
 * dispatch, so a caller can act on one whole event before the next begins;
 * call again with the rest.  Never fails: any byte sequence is a stream.
 */
size_t meter_sse_feed(struct meter_sse *sse, const char *buf, size_t len);

/*
 * End of stream.  An event that has data but no closing blank line is
 * dispatched (the spec discards it; a metering proxy would rather read a
 * final usage event whose connection closed one newline early).
 */
void meter_sse_finish(struct meter_sse *sse);

/* Raw bytes consumed so far. */
uint64_t meter_sse_offset(const struct meter_sse *sse);

#endif
