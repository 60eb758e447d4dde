/*
 * proxy/headers.c — header forwarding policy (see headers.h).  Pure
 * functions over a parsed head; any thread.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/headers.h"

static const char *const hop_by_hop[] = {"connection",
                                         "keep-alive",
                                         "proxy-connection",
                                         "te",
                                         "trailer",
                                         "transfer-encoding",
                                         "upgrade",
                                         "proxy-authenticate",
                                         "proxy-authorization",
                                         "content-length",
                                         NULL};

static int
in_list(const char *name, size_t n, const char *const *list)
{
	int i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		if (strlen(list[i]) == n && strncasecmp(list[i], name, n) == 0)
			return 1;
	return 0;
}

int
proxy_headers_skip(const struct proxy_http_head *h, int i,
                   const char *const *extra)
{
	size_t n, cn;
	const char *name = proxy_http_field_name(h, i, &n);
	int k;

	if (in_list(name, n, hop_by_hop) || in_list(name, n, extra))
		return 1;
	/* Fields the Connection header names are hop-by-hop too. */
	for (k = 0; k < h->nf; k++) {
		const char *cname = proxy_http_field_name(h, k, &cn);
		const char *v;
		char tok[128];

		if (cn != 10 || strncasecmp(cname, "connection", 10) != 0)
			continue;
		if (n >= sizeof(tok))
			return 0;
		memcpy(tok, name, n);
		tok[n] = '\0';
		v = proxy_http_field_value(h, k, &cn);
		if (proxy_http_list_has(v, cn, tok))
			return 1;
	}
	return 0;
}

void
proxy_headers_copy(struct evbuffer *out, const struct proxy_http_head *h,
                   const char *const *extra)
{
	int i;

	for (i = 0; i < h->nf; i++) {
		size_t nn, vn;
		const char *name, *value;

		if (proxy_headers_skip(h, i, extra))
			continue;
		name = proxy_http_field_name(h, i, &nn);
		value = proxy_http_field_value(h, i, &vn);
		evbuffer_add(out, name, nn);
		evbuffer_add(out, ": ", 2);
		evbuffer_add(out, value, vn);
		evbuffer_add(out, "\r\n", 2);
	}
}

/* q-value of coding in an Accept-Encoding list: -1 absent, else 0..1000. */
static int
coding_q(const char *v, size_t len, const char *coding)
{
	size_t cn = strlen(coding), i = 0;
	int star = -1;

	while (i < len) {
		size_t s, e, item_end;
		int q = 1000;
		const char *semi;

		while (i < len && (v[i] == ' ' || v[i] == ',' || v[i] == '\t'))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		item_end = i;
		semi = memchr(v + s, ';', item_end - s);
		e = semi ? (size_t)(semi - v) : item_end;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (semi != NULL) {
			const char *qp = semi + 1;

			while (qp < v + item_end && (*qp == ' ' || *qp == '\t'))
				qp++;
			if (qp + 2 <= v + item_end &&
			    (qp[0] == 'q' || qp[0] == 'Q') && qp[1] == '=')
				q = (int)(strtod(qp + 2, NULL) * 1000);
		}
		if (e - s == cn && strncasecmp(v + s, coding, cn) == 0)
			return q;
		if (e - s == 1 && v[s] == '*')
			star = q;
	}
	return star;
}

const char *
proxy_headers_upstream_encoding(const struct proxy_http_head *h, int stream)
{
	size_t len;
	const char *v = proxy_http_get(h, "accept-encoding", &len);
	int gz, df;

	/* A compressed stream batches deltas in the compressor and delays
	 * the first token; streams are always asked for plain bytes. */
	if (stream || v == NULL)
		return "identity";
	gz = coding_q(v, len, "gzip") > 0;
	df = coding_q(v, len, "deflate") > 0;
	if (gz && df)
		return "gzip, deflate";
	if (gz)
		return "gzip";
	if (df)
		return "deflate";
	return "identity";
}
