/* tests/fuzz/fuzz_request.c — meter/request: inspection never crashes, and
 * an injected body always re-inspects as valid JSON with include_usage. */
#include <stdlib.h>
#include <string.h>

#include "meter/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meter_request rq, again;
	const char *err;
	uint64_t off;
	char *out = NULL;
	size_t outlen;

	if (meter_request_inspect(METER_EP_CHAT, (const char *)data, size, &rq,
	                          &err, &off) == -1 ||
	    !rq.is_json)
		return 0;
	if (meter_request_inject_usage(&rq, (const char *)data, size, &out,
	                               &outlen) == 0) {
		if (meter_request_inspect(METER_EP_CHAT, out, outlen, &again,
		                          &err, &off) == -1 ||
		    again.include_usage != 1)
			__builtin_trap();
		free(out);
	}
	return 0;
}
