/* tests/fuzz/fuzz_response.c — meter/response over SSE and JSON, with and
 * without rewriting: any body, split at a data-chosen offset, must emit the
 * same bytes and read the same usage as when fed whole. */
#include <stdlib.h>
#include <string.h>

#include "meter/response.h"

struct sink {
	char *p;
	size_t n;
};

static void
emit(void *arg, const char *buf, size_t len)
{
	struct sink *s = arg;

	s->p = realloc(s->p, s->n + len + 1);
	memcpy(s->p + s->n, buf, len);
	s->n += len;
}

static void
run(const uint8_t *d, size_t n, size_t cut, const struct meter_response_opts *o,
    struct sink *s, struct meter_usage *u)
{
	struct meter_response *mr = meter_response_new(o, emit, s);

	meter_response_body(mr, (const char *)d, cut);
	meter_response_body(mr, (const char *)d + cut, n - cut);
	meter_response_end(mr, 1);
	*u = *meter_response_usage(mr);
	meter_response_free(mr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {"text/event-stream",
	                                    "application/json"};
	struct meter_response_opts o;
	struct sink a = {0}, b = {0};
	struct meter_usage ua, ub;
	size_t cut;

	if (size < 2)
		return 0;
	memset(&o, 0, sizeof(o));
	o.endpoint = (data[0] & 1) ? METER_EP_CHAT : METER_EP_RESPONSES;
	o.content_type = types[(data[0] >> 1) & 1];
	o.strip_usage = (data[0] >> 2) & 1;
	o.status = 200;
	cut = data[1] % (size - 1);
	run(data + 2, size - 2, size - 2, &o, &a, &ua);
	run(data + 2, size - 2, cut, &o, &b, &ub);
	if (a.n != b.n || (a.n && memcmp(a.p, b.p, a.n) != 0) ||
	    memcmp(&ua, &ub, sizeof(ua)) != 0)
		__builtin_trap();
	free(a.p);
	free(b.p);
	return 0;
}
