/*
 * meter/sse.c — incremental event-stream parser (see sse.h).
 *
 * Line state machine: field name, optional space after the colon, value, end
 * of line.  Runs on the feeding thread; owns only its struct.
 */
#include <stdlib.h>
#include <string.h>

#include "meter/sse.h"

enum sse_state {
	SSE_LINE_START,
	SSE_FIELD,
	SSE_VALUE_SPACE, /* just after ':'; one space is dropped */
	SSE_VALUE,
};

enum sse_field { F_OTHER, F_DATA, F_EVENT };

struct meter_sse {
	struct meter_sse_callbacks cbs;
	void *arg;
	enum sse_state state;
	int after_cr; /* last byte was CR: a following LF is the same EOL */
	char name[METER_SSE_MAX_FIELD + 1];
	size_t namelen;
	int name_cut;
	enum sse_field field;
	int has_data;   /* the current event has a data line */
	int dispatched; /* feed stops after a dispatch */
	char type[METER_SSE_MAX_EVENT_TYPE];
	size_t typelen;
	uint64_t off;
};

struct meter_sse *
meter_sse_new(const struct meter_sse_callbacks *cbs, void *arg)
{
	struct meter_sse *sse = calloc(1, sizeof(*sse));

	if (sse == NULL)
		return NULL;
	sse->cbs = *cbs;
	sse->arg = arg;
	return sse;
}

void
meter_sse_free(struct meter_sse *sse)
{
	free(sse);
}

static void
sse_field_begin(struct meter_sse *sse)
{
	sse->field = F_OTHER;
	if (sse->name_cut)
		return;
	sse->name[sse->namelen] = '\0';
	if (strcmp(sse->name, "data") == 0) {
		sse->field = F_DATA;
		/* Data lines after the first are joined with a newline. */
		if (sse->has_data && sse->cbs.data != NULL)
			sse->cbs.data(sse->arg, "\n", 1);
		sse->has_data = 1;
	} else if (strcmp(sse->name, "event") == 0) {
		sse->field = F_EVENT;
		sse->typelen = 0;
	}
}

static void
sse_value(struct meter_sse *sse, const char *p, size_t n)
{
	if (sse->field == F_DATA && sse->cbs.data != NULL) {
		sse->cbs.data(sse->arg, p, n);
	} else if (sse->field == F_EVENT) {
		size_t room = sizeof(sse->type) - sse->typelen;

		if (n > room)
			n = room;
		memcpy(sse->type + sse->typelen, p, n);
		sse->typelen += n;
	}
}

static void
sse_dispatch(struct meter_sse *sse, uint64_t end)
{
	if (sse->cbs.dispatch != NULL)
		sse->cbs.dispatch(sse->arg, sse->type, sse->typelen,
		                  sse->has_data, end);
	sse->has_data = 0;
	sse->typelen = 0;
	sse->dispatched = 1;
}

/* End of a line (the EOL byte is at offset sse->off). */
static void
sse_eol(struct meter_sse *sse)
{
	if (sse->state == SSE_LINE_START) {
		sse_dispatch(sse, sse->off + 1);
		return;
	}
	if (sse->state == SSE_FIELD)
		sse_field_begin(sse); /* a line with no colon: empty value */
	sse->state = SSE_LINE_START;
}

/* Value bytes run until CR or LF; hands them on in one piece. */
static size_t
sse_value_run(struct meter_sse *sse, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] != '\n' && p[i] != '\r'; i++)
		;
	if (i > 0)
		sse_value(sse, p, i);
	return i;
}

size_t
meter_sse_feed(struct meter_sse *sse, const char *buf, size_t len)
{
	size_t i = 0;

	sse->dispatched = 0;
	while (i < len && !sse->dispatched) {
		char c = buf[i];

		if (sse->after_cr) {
			sse->after_cr = 0;
			if (c == '\n') {
				i++;
				sse->off++;
				continue;
			}
		}
		if (c == '\r' || c == '\n') {
			sse_eol(sse);
			sse->after_cr = c == '\r';
			i++;
			sse->off++;
			continue;
		}
		switch (sse->state) {
		case SSE_LINE_START:
			sse->namelen = 0;
			sse->name_cut = 0;
			sse->state = SSE_FIELD;
			/* FALLTHROUGH */
		case SSE_FIELD:
			if (c == ':') {
				sse_field_begin(sse);
				sse->state = SSE_VALUE_SPACE;
			} else if (sse->namelen < METER_SSE_MAX_FIELD) {
				sse->name[sse->namelen++] = c;
			} else {
				sse->name_cut = 1;
			}
			i++;
			sse->off++;
			continue;
		case SSE_VALUE_SPACE:
			sse->state = SSE_VALUE;
			if (c == ' ') {
				i++;
				sse->off++;
				if (sse->field == F_DATA && sse->cbs.data_line)
					sse->cbs.data_line(sse->arg, sse->off);
				continue;
			}
			if (sse->field == F_DATA && sse->cbs.data_line)
				sse->cbs.data_line(sse->arg, sse->off);
			/* FALLTHROUGH */
		case SSE_VALUE: {
			size_t k = sse_value_run(sse, buf + i, len - i);

			i += k;
			sse->off += k;
			continue;
		}
		}
	}
	return i;
}

void
meter_sse_finish(struct meter_sse *sse)
{
	if (sse->has_data)
		sse_dispatch(sse, sse->off);
}

uint64_t
meter_sse_offset(const struct meter_sse *sse)
{
	return sse->off;
}
