/*
 * certs/ca.c — the CA: creation, loading, leaf minting (see certs.h).
 *
 * Any thread: load once at start-up; minting only reads the CA and the
 * shared leaf key (OpenSSL objects are safe for concurrent reads).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs/certs.h"

struct certs_ca {
	X509 *cert;
	EVP_PKEY *key;
	EVP_PKEY *leaf_key; /* one key for every leaf, made at load */
};

static int
fail(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();

	snprintf(err, errlen, "%s%s%s", what, e ? ": " : "",
	         e ? ERR_reason_error_string(e) : "");
	ERR_clear_error();
	return -1;
}

static void
path_in(char *out, size_t len, const char *dir, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

int
certs_ca_exists(const char *dir)
{
	char crt[4096], key[4096];

	path_in(crt, sizeof(crt), dir, "ca.crt");
	path_in(key, sizeof(key), dir, "ca.key");
	return access(crt, F_OK) == 0 && access(key, F_OK) == 0;
}

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int rc;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	rc = X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rc;
}

/* A random positive 128-bit serial (RFC 5280 §4.1.2.2: at most 20 bytes). */
static int
set_serial(X509 *cert)
{
	unsigned char b[16];
	BIGNUM *bn = NULL;
	int rc = -1;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[0] &= 0x7f;
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) != NULL &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL)
		rc = 0;
	BN_free(bn);
	return rc;
}

/* Fills the fields every certificate here shares. */
static int
cert_base(X509 *cert, EVP_PKEY *pub, const char *cn, time_t now,
          long backdate_s, int days)
{
	X509_NAME *name = X509_get_subject_name(cert);

	return X509_set_version(cert, 2) == 1 && set_serial(cert) == 0 &&
	               X509_time_adj_ex(X509_getm_notBefore(cert), 0,
	                                -backdate_s, &now) != NULL &&
	               X509_time_adj_ex(X509_getm_notAfter(cert), days, 0,
	                                &now) != NULL &&
	               X509_set_pubkey(cert, pub) == 1 &&
	               X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                                          (const unsigned char *)cn, -1,
	                                          -1, 0) == 1
	           ? 0
	           : -1;
}

static int
write_pem(const char *path, int mode, int force, X509 *cert, EVP_PKEY *key,
          char *err, size_t errlen)
{
	FILE *f;
	int fd, ok;

	if (force)
		unlink(path);
	/* O_EXCL: never write through a file someone else prepared. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create %s: %s%s", path,
		         strerror(errno),
		         errno == EEXIST ? " (use --force to replace the CA)"
		                         : "");
		return -1;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	ok = cert != NULL
	         ? PEM_write_X509(f, cert)
	         : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) != 0 || !ok) {
		snprintf(err, errlen, "cannot write %s", path);
		unlink(path);
		return -1;
	}
	return 0;
}

int
certs_ca_init(const char *dir, int force, char *err, size_t errlen)
{
	char crt[4096], keyp[4096];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rc = -1;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir,
		         strerror(errno));
		return -1;
	}
	path_in(crt, sizeof(crt), dir, "ca.crt");
	path_in(keyp, sizeof(keyp), dir, "ca.key");
	if (!force && (access(crt, F_OK) == 0 || access(keyp, F_OK) == 0)) {
		snprintf(err, errlen,
		         "%s already holds a CA (ca.crt/ca.key); "
		         "use --force to replace it (clients trusting the old "
		         "one will stop trusting tollgate)",
		         dir);
		return -1;
	}
	if ((key = EVP_EC_gen("P-256")) == NULL ||
	    (cert = X509_new()) == NULL ||
	    cert_base(cert, key, "tollgate CA", time(NULL), 0, CERTS_CA_DAYS) ==
	        -1 ||
	    X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1 ||
	    add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE") ||
	    add_ext(cert, cert, NID_key_usage,
	            "critical,keyCertSign,cRLSign") ||
	    add_ext(cert, cert, NID_subject_key_identifier, "hash") ||
	    X509_sign(cert, key, EVP_sha256()) == 0) {
		fail(err, errlen, "cannot build the CA certificate");
		goto out;
	}
	if (write_pem(keyp, 0600, force, NULL, key, err, errlen) == -1 ||
	    write_pem(crt, 0644, force, cert, NULL, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

static void *
read_pem(const char *path, int is_key, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	void *obj;

	if (f == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		         strerror(errno));
		return NULL;
	}
	obj = is_key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
	             : (void *)PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (obj == NULL) {
		snprintf(err, errlen, "%s is not a PEM %s", path,
		         is_key ? "private key" : "certificate");
		ERR_clear_error();
	}
	return obj;
}

struct certs_ca *
certs_ca_load(const char *dir, char *err, size_t errlen)
{
	char crt[4096], keyp[4096];
	struct certs_ca *ca = calloc(1, sizeof(*ca));
	struct stat st;

	path_in(crt, sizeof(crt), dir, "ca.crt");
	path_in(keyp, sizeof(keyp), dir, "ca.key");
	if (ca == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (stat(keyp, &st) == -1) {
		snprintf(err, errlen, "cannot read %s: %s", keyp,
		         strerror(errno));
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen,
		         "%s is readable by group or others "
		         "(mode %03o): refusing to use it; run chmod 600 %s",
		         keyp, (unsigned)(st.st_mode & 0777), keyp);
		goto fail;
	}
	if ((ca->key = read_pem(keyp, 1, err, errlen)) == NULL ||
	    (ca->cert = read_pem(crt, 0, err, errlen)) == NULL)
		goto fail;
	if (X509_check_ca(ca->cert) < 1) {
		snprintf(err, errlen, "%s is not a CA certificate", crt);
		goto fail;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s does not match %s", keyp, crt);
		goto fail;
	}
	if ((ca->leaf_key = EVP_EC_gen("P-256")) == NULL) {
		fail(err, errlen, "cannot generate the leaf key");
		goto fail;
	}
	return ca;
fail:
	certs_ca_free(ca);
	return NULL;
}

void
certs_ca_free(struct certs_ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	EVP_PKEY_free(ca->leaf_key);
	free(ca);
}

X509 *
certs_ca_cert(const struct certs_ca *ca)
{
	return ca->cert;
}

EVP_PKEY *
certs_ca_leaf_key(const struct certs_ca *ca)
{
	return ca->leaf_key;
}

/* A DNS name of letters, digits, '-' and '.', or an IP literal. */
static int
san_of(const char *host, char *san, size_t len)
{
	unsigned char ip[sizeof(struct in6_addr)];
	size_t n = strlen(host), i;

	if (inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1) {
		snprintf(san, len, "IP:%s", host);
		return 0;
	}
	if (n == 0 || n > CERTS_HOST_MAX || host[0] == '.' || host[0] == '-')
		return -1;
	for (i = 0; i < n; i++)
		if (!((host[i] >= 'a' && host[i] <= 'z') ||
		      (host[i] >= 'A' && host[i] <= 'Z') ||
		      (host[i] >= '0' && host[i] <= '9') || host[i] == '-' ||
		      host[i] == '.'))
			return -1;
	snprintf(san, len, "DNS:%s", host);
	return 0;
}

X509 *
certs_leaf_mint(const struct certs_ca *ca, const char *host, time_t now,
                char *err, size_t errlen)
{
	char san[CERTS_HOST_MAX + 8];
	X509 *cert = NULL;

	if (san_of(host, san, sizeof(san)) == -1) {
		snprintf(err, errlen,
		         "\"%.80s\" is not a host name tollgate "
		         "mints certificates for",
		         host);
		return NULL;
	}
	if ((cert = X509_new()) == NULL ||
	    cert_base(cert, ca->leaf_key, host, now, CERTS_LEAF_BACKDATE_S,
	              CERTS_LEAF_DAYS) == -1 ||
	    X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)) != 1 ||
	    add_ext(cert, ca->cert, NID_basic_constraints,
	            "critical,CA:FALSE") ||
	    add_ext(cert, ca->cert, NID_key_usage,
	            "critical,digitalSignature") ||
	    add_ext(cert, ca->cert, NID_ext_key_usage, "serverAuth") ||
	    add_ext(cert, ca->cert, NID_subject_alt_name, san) ||
	    add_ext(cert, ca->cert, NID_authority_key_identifier,
	            "keyid:always") ||
	    X509_sign(cert, ca->key, EVP_sha256()) == 0) {
		fail(err, errlen, "cannot mint the leaf certificate");
		X509_free(cert);
		return NULL;
	}
	return cert;
}
