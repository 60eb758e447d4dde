/* tests/fuzz/fuzz_http.c — proxy/http (llhttp wrapper) over requests:
 * never crashes, never reads past the head limit, handles pause/resume. */
#include <string.h>

#include "proxy/http.h"

static int
on_head(void *arg, struct proxy_http_head *h)
{
	size_t n;

	(void)proxy_http_get(h, "content-type", &n);
	(void)proxy_http_has_token(h, "connection", "close");
	return 0;
}

static int
on_body(void *arg, const char *p, size_t n)
{
	*(size_t *)arg += n;
	return 0;
}

static void
on_complete(void *arg)
{
	(void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct proxy_http_callbacks cbs = {on_head, on_body,
	                                                on_complete};
	size_t body = 0, used = 0;
	struct proxy_http *p = proxy_http_new(1, &cbs, &body);
	const char *d = (const char *)data;

	while (size > 0) {
		enum proxy_http_rc rc = proxy_http_feed(p, d, size, &used);

		d += used;
		size -= used;
		if (rc == PROXY_HTTP_PAUSED)
			proxy_http_resume(p);
		else
			break;
	}
	(void)proxy_http_eof(p);
	proxy_http_free(p);
	return 0;
}
