/* tests/fuzz/fuzz_jscan.c — meter/jscan: any bytes, whole and split in
 * two at a data-chosen offset, must give the same verdict and never crash. */
#include <stddef.h>
#include <stdint.h>

#include "meter/jscan.h"

static void
on_value(void *arg, const struct meter_jscan *js,
         const struct meter_jscan_value *v)
{
	uint64_t n;

	*(uint64_t *)arg += v->len;
	(void)meter_jscan_at(js, "usage.prompt_tokens");
	(void)meter_jscan_uint(v, &n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t a = 0, b = 0;
	struct meter_jscan *j1 = meter_jscan_new(on_value, &a);
	struct meter_jscan *j2 = meter_jscan_new(on_value, &b);
	size_t cut = size ? data[0] % (size + 1) : 0;
	int r1, r2;

	r1 = meter_jscan_feed(j1, (const char *)data, size);
	r1 = r1 == 0 ? meter_jscan_finish(j1) : r1;
	r2 = meter_jscan_feed(j2, (const char *)data, cut);
	if (r2 == 0)
		r2 = meter_jscan_feed(j2, (const char *)data + cut, size - cut);
	r2 = r2 == 0 ? meter_jscan_finish(j2) : r2;
	if (r1 != r2 || (r1 == 0 && a != b))
		__builtin_trap();
	meter_jscan_free(j1);
	meter_jscan_free(j2);
	return 0;
}
