/*
 * certs/cache.c — ready TLS server contexts per intercepted host (see
 * certs.h).  One cache per worker thread, so no locking; bounded by its
 * max, the least recently used entry makes room.  Creating an SSL_CTX
 * costs 0.1-0.3 ms here and minting a leaf about as much, so both are
 * done once per host and leaf lifetime, never per connection.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "certs/certs.h"

struct cache_entry {
	char *host;
	SSL_CTX *ctx;
	time_t not_after;  /* leaf expiry */
	time_t used;       /* last lookup, for eviction */
	unsigned long seq; /* tie-break for entries used in the same second */
};

struct certs_cache {
	const struct certs_ca *ca;
	struct cache_entry *e;
	size_t n, max;
	unsigned long seq;
};

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* Only HTTP/1.1 is spoken inside the tunnel: a client offering only h2
 * gets no_application_protocol instead of a connection it cannot use. */
static int
cache_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                  const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, alpn_http11,
	                          sizeof(alpn_http11) - 1, in,
	                          inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

struct certs_cache *
certs_cache_new(const struct certs_ca *ca, size_t max)
{
	struct certs_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ca = ca;
	c->max = max ? max : CERTS_CACHE_MAX;
	if ((c->e = calloc(c->max, sizeof(*c->e))) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

static void
entry_free(struct cache_entry *e)
{
	free(e->host);
	SSL_CTX_free(e->ctx);
	memset(e, 0, sizeof(*e));
}

void
certs_cache_free(struct certs_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		entry_free(&c->e[i]);
	free(c->e);
	free(c);
}

static SSL_CTX *
cache_ctx_new(const struct certs_ca *ca, X509 *leaf, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate(ctx, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, certs_ca_leaf_key(ca)) != 1 ||
	    SSL_CTX_add1_chain_cert(ctx, certs_ca_cert(ca)) != 1) {
		snprintf(err, errlen,
		         "cannot build a TLS context for the leaf");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, cache_alpn_select, NULL);
	return ctx;
}

static time_t
leaf_not_after(X509 *leaf)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* The slot for a new entry: a free one, else the least recently used. */
static struct cache_entry *
cache_slot(struct certs_cache *c)
{
	size_t i, lru = 0;

	if (c->n < c->max)
		return &c->e[c->n++];
	for (i = 1; i < c->n; i++)
		if (c->e[i].used < c->e[lru].used ||
		    (c->e[i].used == c->e[lru].used &&
		     c->e[i].seq < c->e[lru].seq))
			lru = i;
	entry_free(&c->e[lru]);
	return &c->e[lru];
}

SSL_CTX *
certs_cache_get(struct certs_cache *c, const char *host, time_t now, char *err,
                size_t errlen)
{
	struct cache_entry *e = NULL;
	X509 *leaf;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcasecmp(c->e[i].host, host) == 0) {
			e = &c->e[i];
			break;
		}
	if (e != NULL && e->not_after - now > CERTS_LEAF_RENEW_S) {
		e->used = now;
		e->seq = ++c->seq;
		return e->ctx;
	}
	if ((leaf = certs_leaf_mint(c->ca, host, now, err, errlen)) == NULL)
		return NULL;
	if (e == NULL)
		e = cache_slot(c);
	else
		entry_free(e);
	e->host = strdup(host);
	e->ctx = e->host ? cache_ctx_new(c->ca, leaf, err, errlen) : NULL;
	e->not_after = leaf_not_after(leaf);
	e->used = now;
	e->seq = ++c->seq;
	X509_free(leaf);
	if (e->ctx == NULL) {
		entry_free(e); /* leaves an empty slot: compact it */
		*e = c->e[--c->n];
		memset(&c->e[c->n], 0, sizeof(c->e[c->n]));
		return NULL;
	}
	return e->ctx;
}

void
certs_cache_expire(struct certs_cache *c, time_t now)
{
	size_t i = 0;

	while (i < c->n) {
		if (c->e[i].not_after - now > CERTS_LEAF_RENEW_S) {
			i++;
			continue;
		}
		entry_free(&c->e[i]);
		c->e[i] = c->e[--c->n];
		memset(&c->e[c->n], 0, sizeof(c->e[c->n]));
	}
}

size_t
certs_cache_size(const struct certs_cache *c)
{
	return c->n;
}
