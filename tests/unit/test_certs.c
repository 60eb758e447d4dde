/*
 * tests/unit/test_certs.c — certs/ca.c and certs/cache.c: CA files and
 * their modes, refusal to overwrite or to load a loose key, leaves that
 * verify against the CA for their host only (CA:FALSE, serverAuth, SAN,
 * backdated), and the SSL_CTX cache (reuse, LRU eviction, expiry).
 */
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs/certs.h"
#include "tests/unit/harness.h"

static char *
tmpdir_new(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/tollgate-certs-unit-XXXXXX");
	return mkdtemp(buf);
}

static void
tmpdir_rm(const char *dir)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/ca.crt", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/ca.key", dir);
	unlink(p);
	rmdir(dir);
}

static int
mode_of(const char *dir, const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

/* A fresh CA in a temp dir, loaded; NULL (and a failed check) if not. */
static struct certs_ca *
ca_fixture(char *dir, size_t len)
{
	char err[512];
	struct certs_ca *ca = NULL;

	CHECK(tmpdir_new(dir, len) != NULL);
	CHECK(certs_ca_init(dir, 0, err, sizeof(err)) == 0);
	ca = certs_ca_load(dir, err, sizeof(err));
	CHECK(ca != NULL);
	return ca;
}

/* Does leaf verify against the CA for host (chain + name)? */
static int
verifies(const struct certs_ca *ca, X509 *leaf, const char *host)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	X509_STORE_add_cert(st, certs_ca_cert(ca));
	X509_STORE_CTX_init(ctx, st, leaf, NULL);
	X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host, 0);
	X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(ctx),
	                              X509_PURPOSE_SSL_SERVER);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

TEST(certs_ca_init_writes_files_and_refuses_overwrite)
{
	char dir[64], err[512];

	CHECK(tmpdir_new(dir, sizeof(dir)) != NULL);
	CHECK(certs_ca_exists(dir) == 0);
	CHECK(certs_ca_init(dir, 0, err, sizeof(err)) == 0);
	CHECK(certs_ca_exists(dir) == 1);
	CHECK(mode_of(dir, "ca.key") == 0600);
	CHECK(certs_ca_init(dir, 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "--force") != NULL);
	CHECK(certs_ca_init(dir, 1, err, sizeof(err)) == 0);
	CHECK(mode_of(dir, "ca.key") == 0600);
	tmpdir_rm(dir);
}

TEST(certs_ca_load_refuses_loose_key)
{
	char dir[64], err[512], key[128];
	struct certs_ca *ca;

	CHECK(tmpdir_new(dir, sizeof(dir)) != NULL);
	CHECK(certs_ca_init(dir, 0, err, sizeof(err)) == 0);
	snprintf(key, sizeof(key), "%s/ca.key", dir);
	CHECK(chmod(key, 0644) == 0);
	CHECK(certs_ca_load(dir, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "chmod 600") != NULL);
	CHECK(chmod(key, 0600) == 0);
	ca = certs_ca_load(dir, err, sizeof(err));
	CHECK(ca != NULL);
	if (ca != NULL)
		CHECK(X509_check_ca(certs_ca_cert(ca)) >= 1);
	certs_ca_free(ca);
	tmpdir_rm(dir);
}

TEST(certs_ca_load_missing_dir)
{
	char err[512];

	CHECK(certs_ca_load("/nonexistent/tollgate", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/tollgate/ca.key") != NULL);
}

TEST(certs_leaf_mint_verifies_for_its_host_only)
{
	char dir[64], err[512];
	struct certs_ca *ca;
	X509 *leaf, *ip;
	time_t now = time(NULL);

	ca = ca_fixture(dir, sizeof(dir));
	if (ca == NULL)
		return;
	leaf = certs_leaf_mint(ca, "api.openai.com", now, err, sizeof(err));
	CHECK(leaf != NULL);
	CHECK(verifies(ca, leaf, "api.openai.com"));
	CHECK(!verifies(ca, leaf, "evil.example.com"));
	CHECK(X509_check_ca(leaf) == 0);
	CHECK((X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER) != 0);
	/* backdated for clock skew, short-lived */
	CHECK(X509_cmp_time(X509_get0_notBefore(leaf), &now) < 0);
	{
		time_t later = now + (CERTS_LEAF_DAYS + 1) * 86400L;

		CHECK(X509_cmp_time(X509_get0_notAfter(leaf), &later) < 0);
	}
	ip = certs_leaf_mint(ca, "127.0.0.1", now, err, sizeof(err));
	CHECK(ip != NULL);
	CHECK(X509_check_ip_asc(ip, "127.0.0.1", 0) == 1);
	CHECK(certs_leaf_mint(ca, "bad host", now, err, sizeof(err)) == NULL);
	CHECK(certs_leaf_mint(ca, "*.openai.com", now, err, sizeof(err)) ==
	      NULL);
	CHECK(certs_leaf_mint(ca, "", now, err, sizeof(err)) == NULL);
	{
		char big[300];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		CHECK(certs_leaf_mint(ca, big, now, err, sizeof(err)) == NULL);
	}
	X509_free(leaf);
	X509_free(ip);
	certs_ca_free(ca);
	tmpdir_rm(dir);
}

TEST(certs_cache_get_reuses_evicts_and_expires)
{
	char dir[64], err[512];
	struct certs_ca *ca;
	struct certs_cache *c;
	SSL_CTX *a, *b;
	time_t now = time(NULL);

	ca = ca_fixture(dir, sizeof(dir));
	if (ca == NULL)
		return;
	c = certs_cache_new(ca, 2);
	a = certs_cache_get(c, "api.openai.com", now, err, sizeof(err));
	CHECK(a != NULL);
	CHECK(certs_cache_get(c, "API.OpenAI.com", now, err, sizeof(err)) == a);
	b = certs_cache_get(c, "b.example", now + 1, err, sizeof(err));
	CHECK(b != NULL && b != a);
	CHECK(certs_cache_get(c, "api.openai.com", now + 2, err, sizeof(err)) ==
	      a); /* a is now the newest */
	CHECK(certs_cache_get(c, "c.example", now + 3, err, sizeof(err)) !=
	      NULL);
	CHECK_U64(certs_cache_size(c), 2);
	/* b was the least recently used: evicted, a kept */
	CHECK(certs_cache_get(c, "api.openai.com", now + 4, err, sizeof(err)) ==
	      a);
	CHECK(certs_cache_get(c, "bad host", now, err, sizeof(err)) == NULL);
	CHECK_U64(certs_cache_size(c), 2);
	/* near expiry: dropped by expire, re-minted by get */
	certs_cache_expire(c, now + CERTS_LEAF_DAYS * 86400L);
	CHECK_U64(certs_cache_size(c), 0);
	CHECK(certs_cache_get(c, "api.openai.com", now, err, sizeof(err)) !=
	      NULL);
	certs_cache_free(c);
	certs_ca_free(ca);
	tmpdir_rm(dir);
}
