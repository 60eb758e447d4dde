/*
 * tests/unit/test_proxy_fetch.c — proxy/fetch.c, the blocking client for
 * side threads, against the scripted loopback server (httpd.h).
 *
 * Proves: the request it writes (request line, Host, Content-Length with
 * a body and none on a GET, Connection: close, User-Agent, the caller's
 * headers, the body) parses under llhttp's strict mode; responses framed by
 * Content-Length, chunked and EOF all come back whole; 1xx responses are
 * skipped; a 429's Retry-After is kept; a silent server times out in
 * about timeout_ms with "timed out" in err; the cancel flag; malformed,
 * cut-short and missing responses, a refused port and bad URLs are -1
 * with a reason; a few MB pass and a body over PROXY_FETCH_MAX_BODY
 * (announced or streamed) is refused; IPv6 literals; HTTPS against a
 * certificate made here: trusted through ca_file (by IP and by name),
 * refused without it or for the wrong host, naming OpenSSL's reason; a
 * plain-HTTP server behind an https:// URL fails the handshake.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy/fetch.h"
#include "tests/unit/harness.h"
#include "tests/unit/httpd.h"

static const char ok_hello[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A server on 127.0.0.1 answering every connection with one reply. */
static struct httpd *
server1(enum httpd_action action, const char *data, size_t len)
{
	struct httpd_reply r = {action, data, len};
	struct httpd *h = httpd_start("127.0.0.1", NULL);

	CHECK(h != NULL);
	if (h != NULL)
		httpd_script(h, &r, 1);
	return h;
}

/* GET http://127.0.0.1:<port><path> with a 2 s timeout. */
static int
get(struct httpd *h, const char *path, struct proxy_fetch_resp *resp, char *err,
    size_t errlen)
{
	struct proxy_fetch_req rq;
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", httpd_port(h),
	         path);
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.timeout_ms = 2000;
	return proxy_fetch(&rq, resp, err, errlen);
}

TEST(proxy_fetch_content_length)
{
	struct httpd *h = server1(HTTPD_SEND, ok_hello, 0);
	struct proxy_fetch_req rq;
	struct proxy_fetch_resp resp;
	char url[256], host[64], err[256] = "";
	const char *raw;

	if (h == NULL)
		return;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/x?y=1#frag",
	         httpd_port(h));
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.headers = "X-Test: yes\r\nContent-Type: application/json\r\n";
	rq.body = "{\"a\":1}";
	rq.body_len = 7;
	rq.timeout_ms = 2000;
	CHECK(proxy_fetch(&rq, &resp, err, sizeof(err)) == 0);
	CHECK_U64(resp.status, 200);
	CHECK_STR(resp.body, "hello");
	CHECK_U64(resp.body_len, 5);
	CHECK_STR(resp.retry_after, "");
	proxy_fetch_resp_free(&resp);
	CHECK(resp.body == NULL);

	CHECK_U64(httpd_nrequests(h), 1);
	raw = httpd_raw(h, 0);
	snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n",
	         httpd_port(h));
	CHECK(raw != NULL &&
	      strncmp(raw, "POST /v1/x?y=1 HTTP/1.1\r\n", 25) == 0);
	CHECK(raw != NULL && strstr(raw, host) != NULL);
	CHECK(raw != NULL && strstr(raw, "\r\nContent-Length: 7\r\n") != NULL);
	CHECK(raw != NULL && strstr(raw, "\r\nConnection: close\r\n") != NULL);
	CHECK(raw != NULL && strstr(raw, "\r\nUser-Agent: tollgate/") != NULL);
	CHECK(raw != NULL && strstr(raw, "\r\nX-Test: yes\r\n") != NULL);
	CHECK(raw != NULL && strstr(raw, "frag") == NULL);
	CHECK_STR(httpd_body(h, 0), "{\"a\":1}");
	httpd_stop(h);
}

TEST(proxy_fetch_chunked)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\n"
	                            "Transfer-Encoding: chunked\r\n\r\n"
	                            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	struct httpd *h = server1(HTTPD_SEND, reply, 0);
	struct proxy_fetch_resp resp;
	char err[256] = "";
	const char *raw;

	if (h == NULL)
		return;
	CHECK(get(h, "", &resp, err, sizeof(err)) == 0);
	CHECK_U64(resp.status, 200);
	CHECK_STR(resp.body, "hello world");
	CHECK_U64(resp.body_len, 11);
	proxy_fetch_resp_free(&resp);
	raw = httpd_raw(h, 0);
	/* an empty path is sent as "/", a GET carries no length */
	CHECK(raw != NULL && strncmp(raw, "GET / HTTP/1.1\r\n", 16) == 0);
	CHECK(raw != NULL && strstr(raw, "Content-Length") == NULL);
	httpd_stop(h);
}

TEST(proxy_fetch_eof_body)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\n"
	                            "Connection: close\r\n\r\n"
	                            "up to the close";
	struct httpd *h = server1(HTTPD_SEND, reply, 0);
	struct proxy_fetch_resp resp;
	char err[256] = "";

	if (h == NULL)
		return;
	CHECK(get(h, "/?q", &resp, err, sizeof(err)) == 0);
	CHECK_U64(resp.status, 200);
	CHECK_STR(resp.body, "up to the close");
	proxy_fetch_resp_free(&resp);
	CHECK(strncmp(httpd_raw(h, 0), "GET /?q HTTP/1.1\r\n", 18) == 0);
	httpd_stop(h);
}

TEST(proxy_fetch_interim_1xx)
{
	static const char reply[] = "HTTP/1.1 100 Continue\r\n\r\n"
	                            "HTTP/1.1 103 Early Hints\r\n"
	                            "Link: </a>\r\n\r\n"
	                            "HTTP/1.1 201 Created\r\n"
	                            "Content-Length: 2\r\n\r\nok";
	struct httpd *h = server1(HTTPD_SEND, reply, 0);
	struct proxy_fetch_resp resp;
	char err[256] = "";

	if (h == NULL)
		return;
	CHECK(get(h, "/", &resp, err, sizeof(err)) == 0);
	CHECK_U64(resp.status, 201);
	CHECK_STR(resp.body, "ok");
	proxy_fetch_resp_free(&resp);
	httpd_stop(h);
}

TEST(proxy_fetch_retry_after)
{
	static const char reply[] = "HTTP/1.1 429 Too Many Requests\r\n"
	                            "Retry-After: 7\r\n"
	                            "Content-Length: 4\r\n\r\nslow";
	struct httpd *h = server1(HTTPD_SEND, reply, 0);
	struct proxy_fetch_resp resp;
	char err[256] = "";

	if (h == NULL)
		return;
	CHECK(get(h, "/", &resp, err, sizeof(err)) == 0);
	CHECK_U64(resp.status, 429);
	CHECK_STR(resp.retry_after, "7");
	CHECK_STR(resp.body, "slow");
	proxy_fetch_resp_free(&resp);
	httpd_stop(h);
}

TEST(proxy_fetch_empty_body)
{
	struct httpd *h =
	    server1(HTTPD_SEND, "HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n", 0);
	struct proxy_fetch_resp resp;
	char err[256] = "";

	if (h == NULL)
		return;
	CHECK(get(h, "/", &resp, err, sizeof(err)) == 0);
	CHECK_U64(resp.status, 204);
	CHECK(resp.body != NULL);
	CHECK_STR(resp.body, "");
	CHECK_U64(resp.body_len, 0);
	proxy_fetch_resp_free(&resp);
	httpd_stop(h);
}

TEST(proxy_fetch_timeout)
{
	struct httpd *h = server1(HTTPD_SILENT, NULL, 0);
	struct proxy_fetch_req rq;
	struct proxy_fetch_resp resp = {7, "untouched", NULL, 0};
	char url[256], err[256] = "";
	int64_t t0, dt;

	if (h == NULL)
		return;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", httpd_port(h));
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.timeout_ms = 300;
	t0 = now_ms();
	CHECK(proxy_fetch(&rq, &resp, err, sizeof(err)) == -1);
	dt = now_ms() - t0;
	CHECK(strstr(err, "timed out") != NULL);
	CHECK(strstr(err, "waiting for the response") != NULL);
	CHECK(dt >= 290 && dt < 900);
	CHECK_U64(resp.status, 7); /* untouched on failure */
	CHECK_STR(resp.retry_after, "untouched");
	httpd_stop(h);
}

TEST(proxy_fetch_cancel)
{
	struct httpd *h = server1(HTTPD_SILENT, NULL, 0);
	struct proxy_fetch_req rq;
	struct proxy_fetch_resp resp;
	atomic_int cancel;
	char url[256], err[256] = "";
	int64_t t0;

	if (h == NULL)
		return;
	atomic_init(&cancel, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", httpd_port(h));
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.timeout_ms = 5000;
	rq.cancel = &cancel;
	t0 = now_ms();
	CHECK(proxy_fetch(&rq, &resp, err, sizeof(err)) == -1);
	CHECK(strstr(err, "cancelled") != NULL);
	CHECK(now_ms() - t0 < 500);
	httpd_stop(h);
}

TEST(proxy_fetch_malformed)
{
	static const char *const replies[] = {
	    "HTTP/1.1 2x0 OK\r\n\r\n",
	    "garbage\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	};
	struct proxy_fetch_resp resp;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		struct httpd *h = server1(HTTPD_SEND, replies[i], 0);

		if (h == NULL)
			return;
		err[0] = '\0';
		CHECK(get(h, "/", &resp, err, sizeof(err)) == -1);
		CHECK(strstr(err, "malformed response") != NULL);
		httpd_stop(h);
	}
}

TEST(proxy_fetch_cut_short)
{
	struct httpd *h =
	    server1(HTTPD_SEND,
	            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 0);
	struct proxy_fetch_resp resp;
	char err[256] = "";

	if (h == NULL)
		return;
	CHECK(get(h, "/", &resp, err, sizeof(err)) == -1);
	CHECK(strstr(err, "cut short") != NULL);
	httpd_stop(h);

	h = server1(HTTPD_CLOSE, NULL, 0);
	if (h == NULL)
		return;
	CHECK(get(h, "/", &resp, err, sizeof(err)) == -1);
	CHECK(strstr(err, "closed before a response") != NULL);
	httpd_stop(h);
}

TEST(proxy_fetch_refused)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct proxy_fetch_req rq;
	struct proxy_fetch_resp resp;
	char url[256], err[256] = "";
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A port bound but never listened on: nothing can take it. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd != -1);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.timeout_ms = 1000;
	CHECK(proxy_fetch(&rq, &resp, err, sizeof(err)) == -1);
	CHECK(strstr(err, "refused") != NULL);
	CHECK(strstr(err, "127.0.0.1") != NULL);
	close(fd);
}

TEST(proxy_fetch_bad_input)
{
	static const char *const urls[] = {
	    "ftp://127.0.0.1/",     "http://",        "http:///x",
	    "http://a b/",          "http://h:0/",    "http://h:65536/",
	    "http://h:12x/",        "http://[::1/",   "http://u:p@h/",
	    "http://h/\r\nX: y",    "https://[]:80/", "http://h:/",
	    "http://h/caf\xc3\xa9",
	};
	struct proxy_fetch_req rq;
	struct proxy_fetch_resp resp;
	char err[256];
	size_t i;

	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.timeout_ms = 1000;
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		err[0] = '\0';
		rq.url = urls[i];
		CHECK(proxy_fetch(&rq, &resp, err, sizeof(err)) == -1);
		CHECK(strstr(err, "URL") != NULL);
	}
	rq.url = "http://127.0.0.1:1/";
	rq.method = "get";
	CHECK(proxy_fetch(&rq, &resp, err, sizeof(err)) == -1);
	CHECK(strstr(err, "method") != NULL);
	rq.method = "GET";
	rq.url = "http://no-such-host.invalid/";
	CHECK(proxy_fetch(&rq, &resp, err, sizeof(err)) == -1);
	CHECK(strstr(err, "cannot resolve no-such-host.invalid") != NULL);
}

TEST(proxy_fetch_large_body)
{
	const size_t n = 3 * 1024 * 1024;
	char *reply = malloc(n + 64);
	struct proxy_fetch_resp resp;
	char err[256] = "";
	struct httpd *h;
	int k;

	if (reply == NULL)
		abort();
	k = snprintf(reply, 64,
	             "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
	memset(reply + k, 'x', n);
	reply[k + (int)n - 1] = 'y';
	h = server1(HTTPD_SEND, reply, (size_t)k + n);
	if (h != NULL) {
		CHECK(get(h, "/", &resp, err, sizeof(err)) == 0);
		CHECK_U64(resp.body_len, n);
		CHECK(resp.body != NULL && resp.body[n - 1] == 'y' &&
		      resp.body[n] == '\0' && resp.body[0] == 'x');
		proxy_fetch_resp_free(&resp);
		httpd_stop(h);
	}
	free(reply);
}

TEST(proxy_fetch_over_limit)
{
	const size_t n = PROXY_FETCH_MAX_BODY + 1;
	char *reply = malloc(n + 64);
	char announced[128], err[256] = "";
	struct proxy_fetch_resp resp;
	struct httpd *h;
	int k;

	if (reply == NULL)
		abort();
	/* Announced: refused at the head, before any of the body. */
	snprintf(announced, sizeof(announced),
	         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\nxx", n);
	h = server1(HTTPD_SEND, announced, 0);
	if (h != NULL) {
		CHECK(get(h, "/", &resp, err, sizeof(err)) == -1);
		CHECK(strstr(err, "response body over 8388608 bytes") != NULL);
		httpd_stop(h);
	}
	/* Streamed until EOF: refused at the first byte past the limit. */
	k = snprintf(reply, 64, "HTTP/1.1 200 OK\r\n\r\n");
	memset(reply + k, 'x', n);
	h = server1(HTTPD_SEND, reply, (size_t)k + n);
	if (h != NULL) {
		err[0] = '\0';
		CHECK(get(h, "/", &resp, err, sizeof(err)) == -1);
		CHECK(strstr(err, "response body over") != NULL);
		httpd_stop(h);
	}
	free(reply);
}

TEST(proxy_fetch_ipv6_literal)
{
	struct httpd *h = httpd_start("::1", NULL);
	struct httpd_reply r = {HTTPD_SEND, ok_hello, 0};
	struct proxy_fetch_req rq;
	struct proxy_fetch_resp resp;
	char url[256], host[64], err[256] = "";

	if (h == NULL) {
		printf("     (skipped: no IPv6 loopback)\n");
		return;
	}
	httpd_script(h, &r, 1);
	snprintf(url, sizeof(url), "http://[::1]:%d/six", httpd_port(h));
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.timeout_ms = 2000;
	CHECK(proxy_fetch(&rq, &resp, err, sizeof(err)) == 0);
	CHECK_STR(resp.body, "hello");
	proxy_fetch_resp_free(&resp);
	snprintf(host, sizeof(host), "\r\nHost: [::1]:%d\r\n", httpd_port(h));
	CHECK(httpd_raw(h, 0) != NULL && strstr(httpd_raw(h, 0), host) != NULL);
	httpd_stop(h);
}

/* --- HTTPS ---------------------------------------------------------- */

struct tls_fixture {
	SSL_CTX *server;
	char ca_file[64]; /* the self-signed certificate, PEM */
};

/* A self-signed P-256 certificate for san ("IP:127.0.0.1"), written to a
 * temporary file, and a server context presenting it.  0 or -1. */
static int
tls_fixture_new(struct tls_fixture *f, const char *san)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	FILE *fp = NULL;
	int fd, rc = -1;

	f->server = NULL;
	snprintf(f->ca_file, sizeof(f->ca_file), "/tmp/tollgate-fetch-XXXXXX");
	if (key == NULL || x == NULL || (fd = mkstemp(f->ca_file)) == -1)
		goto cleanup;
	fp = fdopen(fd, "w");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                           (const unsigned char *)"tollgate unit", -1,
	                           -1, 0);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
		goto cleanup;
	X509_EXTENSION_free(ext);
	if (X509_sign(x, key, EVP_sha256()) == 0 || fp == NULL ||
	    PEM_write_X509(fp, x) != 1)
		goto cleanup;
	f->server = SSL_CTX_new(TLS_server_method());
	if (f->server == NULL || SSL_CTX_use_certificate(f->server, x) != 1 ||
	    SSL_CTX_use_PrivateKey(f->server, key) != 1)
		goto cleanup;
	rc = 0;
cleanup:
	if (fp != NULL)
		fclose(fp);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

static void
tls_fixture_free(struct tls_fixture *f)
{
	SSL_CTX_free(f->server);
	unlink(f->ca_file);
}

/* GET https://<host>:<port>/ against a TLS server for san. */
static int
https_get(const char *san, const char *host, int with_ca, int *status,
          char *err, size_t errlen)
{
	struct tls_fixture f;
	struct proxy_fetch_req rq;
	struct proxy_fetch_resp resp;
	struct httpd *h = NULL;
	struct httpd_reply r = {HTTPD_SEND, ok_hello, 0};
	char url[256];
	int rc = -1;

	if (tls_fixture_new(&f, san) == -1) {
		snprintf(err, errlen, "fixture failed");
		tls_fixture_free(&f);
		return -1;
	}
	if ((h = httpd_start("127.0.0.1", f.server)) != NULL) {
		httpd_script(h, &r, 1);
		snprintf(url, sizeof(url), "https://%s:%d/tls", host,
		         httpd_port(h));
		memset(&rq, 0, sizeof(rq));
		rq.method = "GET";
		rq.url = url;
		rq.ca_file = with_ca ? f.ca_file : NULL;
		rq.timeout_ms = 2000;
		rc = proxy_fetch(&rq, &resp, err, errlen);
		if (rc == 0) {
			*status = resp.status;
			CHECK_STR(resp.body, "hello");
			proxy_fetch_resp_free(&resp);
		}
		httpd_stop(h);
	}
	tls_fixture_free(&f);
	return rc;
}

TEST(proxy_fetch_https_ip)
{
	char err[256] = "";
	int status = 0;

	CHECK(https_get("IP:127.0.0.1", "127.0.0.1", 1, &status, err,
	                sizeof(err)) == 0);
	CHECK_U64(status, 200);
	if (err[0] != '\0')
		printf("     %s\n", err);
}

TEST(proxy_fetch_https_name)
{
	char err[256] = "";
	int status = 0;

	CHECK(https_get("DNS:localhost", "localhost", 1, &status, err,
	                sizeof(err)) == 0);
	CHECK_U64(status, 200);
	if (err[0] != '\0')
		printf("     %s\n", err);
}

TEST(proxy_fetch_https_untrusted)
{
	char err[256] = "";
	int status = 0;

	CHECK(https_get("IP:127.0.0.1", "127.0.0.1", 0, &status, err,
	                sizeof(err)) == -1);
	CHECK(strstr(err, "certificate verification failed for 127.0.0.1") !=
	      NULL);
	CHECK(strstr(err, "self-signed certificate") != NULL);
}

TEST(proxy_fetch_https_wrong_host)
{
	char err[256] = "";
	int status = 0;

	CHECK(https_get("DNS:localhost", "127.0.0.1", 1, &status, err,
	                sizeof(err)) == -1);
	CHECK(strstr(err, "IP address mismatch") != NULL);
	err[0] = '\0';
	CHECK(https_get("IP:127.0.0.1", "localhost", 1, &status, err,
	                sizeof(err)) == -1);
	CHECK(strstr(err, "hostname mismatch") != NULL);
}

TEST(proxy_fetch_https_bad_ca_file)
{
	struct proxy_fetch_req rq;
	struct proxy_fetch_resp resp;
	char err[256] = "";

	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = "https://127.0.0.1:1/";
	rq.ca_file = "/nonexistent/ca.pem";
	rq.timeout_ms = 1000;
	CHECK(proxy_fetch(&rq, &resp, err, sizeof(err)) == -1);
	CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);
}

TEST(proxy_fetch_https_plain_server)
{
	struct httpd *h = server1(HTTPD_SEND, ok_hello, 0);
	struct proxy_fetch_req rq;
	struct proxy_fetch_resp resp;
	char url[256], err[256] = "";

	if (h == NULL)
		return;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", httpd_port(h));
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.timeout_ms = 2000;
	CHECK(proxy_fetch(&rq, &resp, err, sizeof(err)) == -1);
	CHECK(strstr(err, "during the TLS handshake with 127.0.0.1") != NULL);
	httpd_stop(h);
}
