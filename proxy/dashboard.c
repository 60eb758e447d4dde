/*
 * proxy/dashboard.c — the dashboard page at "/" (docs/dashboard.md).
 * Admin thread only.
 *
 * Serves proxy/dashboard.html, linked into the binary by
 * proxy/dashboard_blob.S, with a Content-Security-Policy that allows the
 * page's one inline <script> and one inline <style> by their SHA-256
 * (hashed from the embedded bytes on each request: a few kilobytes, and
 * the policy can never drift from the page), nothing from elsewhere, and
 * fetches to this origin only.  The page holds no data: everything it
 * shows comes from the authenticated /api calls it makes.  Owns nothing.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proxy/admin_int.h"

extern const char proxy_dashboard_html[];
extern const uint64_t proxy_dashboard_html_len;

/* Base64 of a SHA-256 (44) and its NUL; "'sha256-" + that + "'". */
#define DASHBOARD_HASH_B64_BYTES 45
#define DASHBOARD_HASH_SOURCE_BYTES (DASHBOARD_HASH_B64_BYTES + 10)
#define DASHBOARD_CSP_BYTES 512

/*
 * The CSP source "'sha256-...'" for the text between the first open tag
 * ("\n<script>" or "\n<style>": bare, at the start of a line, so the
 * page's own comments may name the elements) and the close tag after it
 * in page, into out.  0, or -1 when the page holds no such element.
 */
static int
dashboard_hash_source(const char *page, size_t n, const char *open,
                      const char *close, char out[DASHBOARD_HASH_SOURCE_BYTES])
{
	const char *a = memmem(page, n, open, strlen(open)), *z;
	unsigned char md[EVP_MAX_MD_SIZE], b64[DASHBOARD_HASH_B64_BYTES];
	unsigned int mdlen = 0;

	if (a == NULL)
		return -1;
	a += strlen(open);
	z = memmem(a, n - (size_t)(a - page), close, strlen(close));
	if (z == NULL ||
	    EVP_Digest(a, (size_t)(z - a), md, &mdlen, EVP_sha256(), NULL) !=
	        1 ||
	    mdlen != 32)
		return -1;
	EVP_EncodeBlock(b64, md, (int)mdlen);
	snprintf(out, DASHBOARD_HASH_SOURCE_BYTES, "'sha256-%s'", b64);
	return 0;
}

/*
 * GET / (admin_int.h): the page, text/html, never cached, not sniffed,
 * not framed.  500 if the embedded page lost its script or style.
 */
void
admin_dashboard_page(struct proxy_admin *ad, struct evhttp_request *req,
                     const char *arg)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	size_t n = (size_t)proxy_dashboard_html_len;
	char script[DASHBOARD_HASH_SOURCE_BYTES];
	char style[DASHBOARD_HASH_SOURCE_BYTES];
	char csp[DASHBOARD_CSP_BYTES];
	struct evbuffer *b = NULL;

	(void)ad;
	(void)arg;
	if (dashboard_hash_source(proxy_dashboard_html, n, "\n<script>",
	                          "</script>", script) == -1 ||
	    dashboard_hash_source(proxy_dashboard_html, n, "\n<style>",
	                          "</style>", style) == -1) {
		admin_json_error(req, 500, "dashboard_broken",
		                 "the embedded dashboard page has no inline "
		                 "script or style");
		return;
	}
	snprintf(csp, sizeof(csp),
	         "default-src 'self'; script-src %s; style-src %s; "
	         "img-src 'self' data:; connect-src 'self'; "
	         "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	         script, style);
	if ((b = evbuffer_new()) == NULL)
		return;
	/* Static rodata, never freed: no copy needed. */
	evbuffer_add_reference(b, proxy_dashboard_html, n, NULL, NULL);
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(h, "Content-Security-Policy", csp);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}
