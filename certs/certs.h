/*
 * certs/certs.h — tollgate's own certificate authority, for intercepting
 * HTTPS_PROXY traffic to the hosts in intercept_hosts.
 *
 * The CA is an ECDSA P-256 key and a self-signed certificate (10 years,
 * CA:TRUE, keyCertSign) kept as ca.crt and ca.key (mode 0600) in one
 * folder.  Leaves are minted per host: SAN = the host name, CA:FALSE,
 * serverAuth, a random serial, notBefore backdated, a short validity, all
 * signed by the CA with one ECDSA leaf key generated at load (so no key is
 * ever generated on a request path).  A bounded cache keyed by host holds a
 * ready server SSL_CTX per host.
 *
 * Library module: never logs, never exits; errors come back in err.
 * A struct certs_ca is read-only after load and may be shared by threads;
 * a struct certs_cache belongs to one thread (one per worker).
 */
#ifndef CERTS_CERTS_H
#define CERTS_CERTS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <time.h>

#define CERTS_CA_DAYS 3650             /* CA validity */
#define CERTS_LEAF_DAYS 7              /* leaf validity */
#define CERTS_LEAF_BACKDATE_S 3600     /* notBefore this far in the past */
#define CERTS_LEAF_RENEW_S (24 * 3600) /* re-mint when less is left */
#define CERTS_CACHE_MAX 1024           /* hosts with a ready SSL_CTX */
#define CERTS_HOST_MAX 253             /* DNS name length limit */

struct certs_ca;
struct certs_cache;

/*
 * Creates DIR/ca.crt and DIR/ca.key (0600), creating DIR (0700) if needed.
 * Refuses to overwrite existing files unless force.  0 or -1.
 */
int certs_ca_init(const char *dir, int force, char *err, size_t errlen);

/* Do DIR/ca.crt and DIR/ca.key both exist? */
int certs_ca_exists(const char *dir);

/*
 * Loads the CA from DIR.  Refuses a key file readable or writable by group
 * or others, a certificate that is not a CA, or a key that does not match.
 * Generates the shared leaf key.  NULL with err.
 */
struct certs_ca *certs_ca_load(const char *dir, char *err, size_t errlen);
void certs_ca_free(struct certs_ca *ca);

/* The CA certificate (owned by ca), e.g. to print its fingerprint. */
X509 *certs_ca_cert(const struct certs_ca *ca);

/* The key every leaf carries (owned by ca). */
EVP_PKEY *certs_ca_leaf_key(const struct certs_ca *ca);

/* Mints a leaf for host valid from now (caller frees).  NULL with err. */
X509 *certs_leaf_mint(const struct certs_ca *ca, const char *host, time_t now,
                      char *err, size_t errlen);

/* A per-thread cache of server contexts, max entries (0: default). */
struct certs_cache *certs_cache_new(const struct certs_ca *ca, size_t max);
void certs_cache_free(struct certs_cache *c);

/*
 * A TLS server context presenting a leaf for host (ALPN: http/1.1 only),
 * minted on first use or when the cached leaf is within
 * CERTS_LEAF_RENEW_S of expiry.  The cache keeps the reference: the caller
 * must SSL_CTX_up_ref to keep it past the next call.  NULL with err.
 */
SSL_CTX *certs_cache_get(struct certs_cache *c, const char *host, time_t now,
                         char *err, size_t errlen);

/* Drops entries whose leaf needs renewing; for a periodic timer. */
void certs_cache_expire(struct certs_cache *c, time_t now);

size_t certs_cache_size(const struct certs_cache *c);

#endif
