/*
 * tests/unit/test_proxy_alert.c — proxy/alert.c, the budget alert webhook
 * thread, against the scripted loopback server (httpd.h).
 *
 * Proves: the POSTed body is the Slack-compatible JSON (text sentence with
 * cents cut exactly from nano-dollars, Slack markup escaped, every field,
 * exact nanousd integers, RFC 3339 ts), daily and monthly wording; a 500
 * then a 200 delivers once after a retry; PROXY_ALERT_TRIES failures count
 * one failed, and the log names the URL's scheme://host but never its path
 * (a Slack webhook's secret); a full queue drops and counts, logging once
 * per burst; no URL (at start or after set_url(NULL)) drops silently;
 * set_url applies to alerts posted afterwards; stop() delivers what is
 * queued and returns promptly when idle.  Backoff is shortened with
 * proxy_alerts_set_backoff_ms.  Log lines are captured, not printed.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/alert.h"
#include "tests/unit/harness.h"
#include "tests/unit/httpd.h"

static const char ok200[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
static const char err500[] =
    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* --- stderr capture: the log sink writes to fd 2 ---------------------- */

struct capture {
	int saved;
	FILE *f;
};

static void
capture_begin(struct capture *c)
{
	fflush(stderr);
	c->f = tmpfile();
	c->saved = dup(2);
	if (c->f == NULL || c->saved == -1 || dup2(fileno(c->f), 2) == -1)
		abort();
}

/* Restores stderr; returns what was logged (caller frees). */
static char *
capture_end(struct capture *c)
{
	long n;
	char *s;

	dup2(c->saved, 2);
	close(c->saved);
	fseek(c->f, 0, SEEK_END);
	n = ftell(c->f);
	rewind(c->f);
	if ((s = calloc(1, (size_t)n + 1)) == NULL)
		abort();
	if (n > 0 && fread(s, 1, (size_t)n, c->f) != (size_t)n)
		abort();
	fclose(c->f);
	return s;
}

static int
count_of(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

/* --- fixtures --------------------------------------------------------- */

static struct proxy_alert
alert_fixture(const char *ws, int daily)
{
	struct proxy_alert al;

	memset(&al, 0, sizeof(al));
	snprintf(al.workspace, sizeof(al.workspace), "%s", ws);
	snprintf(al.budget, sizeof(al.budget), "%s",
	         daily ? "daily_usd" : "monthly_usd");
	snprintf(al.level, sizeof(al.level), "%s",
	         daily ? "warning" : "exhausted");
	snprintf(al.period, sizeof(al.period), "%s",
	         daily ? "2026-11-22" : "2026-11");
	al.threshold_pct = daily ? 80 : 100;
	al.spent_nanousd = daily ? 4019999999ULL : 123456789012ULL;
	al.limit_nanousd = daily ? 5000000000ULL : 100000000000ULL;
	al.ts_ms = 1795340130123LL; /* 2026-11-22T09:35:30.123Z */
	return al;
}

static struct httpd *
server(const struct httpd_reply *r, int n)
{
	struct httpd *h = httpd_start("127.0.0.1", NULL);

	CHECK(h != NULL);
	if (h != NULL)
		httpd_script(h, r, n);
	return h;
}

static struct proxy_alerts *
alerts_for(struct httpd *h, const char *path)
{
	char url[256], err[256] = "";
	struct proxy_alerts *a;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", httpd_port(h),
	         path);
	a = proxy_alerts_start(url, NULL, err, sizeof(err));
	CHECK(a != NULL);
	if (a != NULL)
		proxy_alerts_set_backoff_ms(a, 5);
	return a;
}

/* Waits (up to 3 s) until sent + failed reach n. */
static void
wait_outcomes(struct proxy_alerts *a, uint64_t n)
{
	uint64_t sent, failed, dropped;
	int64_t end = now_ms() + 3000;

	do {
		proxy_alerts_stats(a, &sent, &failed, &dropped);
		if (sent + failed >= n)
			return;
		sleep_ms(2);
	} while (now_ms() < end);
	harness_fail(__FILE__, __LINE__, "only %llu of %llu outcomes",
	             (unsigned long long)(sent + failed),
	             (unsigned long long)n);
}

static void
check_stats(struct proxy_alerts *a, uint64_t sent, uint64_t failed,
            uint64_t dropped)
{
	uint64_t s, f, d;

	proxy_alerts_stats(a, &s, &f, &d);
	CHECK_U64(s, sent);
	CHECK_U64(f, failed);
	CHECK_U64(d, dropped);
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double
jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* --- tests ------------------------------------------------------------ */

TEST(proxy_alerts_post_body)
{
	struct httpd_reply r = {HTTPD_SEND, ok200, 0};
	struct httpd *h = server(&r, 1);
	struct proxy_alerts *a;
	struct proxy_alert al;
	struct capture cap;
	cJSON *j;
	char *log;
	const char *raw;

	if (h == NULL || (a = alerts_for(h, "/hook")) == NULL)
		goto out;
	capture_begin(&cap);
	al = alert_fixture("team-a", 1);
	proxy_alerts_post(a, &al);
	al = alert_fixture("R&D <ops>", 0);
	proxy_alerts_post(a, &al);
	wait_outcomes(a, 2);
	check_stats(a, 2, 0, 0);
	proxy_alerts_stop(a);
	log = capture_end(&cap);
	CHECK_U64(count_of(log, "alerts: delivered"), 2);
	CHECK(strstr(log, "workspace team-a") != NULL);
	free(log);

	CHECK_U64(httpd_nrequests(h), 2);
	raw = httpd_raw(h, 0);
	CHECK(raw != NULL && strncmp(raw, "POST /hook HTTP/1.1\r\n", 21) == 0);
	CHECK(raw != NULL &&
	      strstr(raw, "\r\nContent-Type: application/json\r\n") != NULL);

	j = cJSON_Parse(httpd_body(h, 0));
	CHECK(j != NULL);
	CHECK_STR(jstr(j, "text"),
	          "tollgate: workspace team-a reached 80% (warning) of its "
	          "daily budget: $4.01 of $5.00 spent on 2026-11-22");
	CHECK_STR(jstr(j, "workspace"), "team-a");
	CHECK_STR(jstr(j, "budget"), "daily_usd");
	CHECK_STR(jstr(j, "level"), "warning");
	CHECK_STR(jstr(j, "period"), "2026-11-22");
	CHECK_STR(jstr(j, "ts"), "2026-11-22T09:35:30.123Z");
	CHECK(jnum(j, "threshold_pct") == 80);
	CHECK(jnum(j, "spent_usd") == 4.019999999);
	CHECK(jnum(j, "limit_usd") == 5.0);
	cJSON_Delete(j);
	/* the exact amounts, as integers */
	CHECK(strstr(httpd_body(h, 0), "\"spent_nanousd\":4019999999,") !=
	      NULL);
	CHECK(strstr(httpd_body(h, 0), "\"limit_nanousd\":5000000000,") !=
	      NULL);

	j = cJSON_Parse(httpd_body(h, 1));
	CHECK(j != NULL);
	CHECK_STR(jstr(j, "text"),
	          "tollgate: workspace R&amp;D &lt;ops&gt; reached 100% "
	          "(exhausted) of its monthly budget: $123.45 of $100.00 "
	          "spent in 2026-11");
	CHECK_STR(jstr(j, "workspace"), "R&D <ops>");
	CHECK(jnum(j, "threshold_pct") == 100);
	cJSON_Delete(j);
	CHECK(strstr(httpd_body(h, 1), "\"spent_nanousd\":123456789012,") !=
	      NULL);
out:
	httpd_stop(h);
}

TEST(proxy_alerts_post_retry)
{
	struct httpd_reply r[] = {{HTTPD_SEND, err500, 0},
	                          {HTTPD_SEND, ok200, 0}};
	struct httpd *h = server(r, 2);
	struct proxy_alerts *a;
	struct proxy_alert al = alert_fixture("team-a", 1);
	struct capture cap;
	char *log;

	if (h == NULL || (a = alerts_for(h, "/")) == NULL)
		goto out;
	capture_begin(&cap);
	proxy_alerts_post(a, &al);
	wait_outcomes(a, 1);
	check_stats(a, 1, 0, 0);
	proxy_alerts_stop(a);
	log = capture_end(&cap);
	CHECK_U64(httpd_nrequests(h), 2);
	CHECK_STR(httpd_body(h, 0), httpd_body(h, 1));
	CHECK_U64(count_of(log, "alerts: delivered"), 1);
	CHECK(strstr(log, "error") == NULL);
	free(log);
out:
	httpd_stop(h);
}

TEST(proxy_alerts_post_gives_up)
{
	struct httpd_reply r = {HTTPD_SEND, err500, 0};
	struct httpd *h = server(&r, 1);
	struct proxy_alerts *a;
	struct proxy_alert al = alert_fixture("team-b", 1);
	struct capture cap;
	char *log, origin[64];

	if (h == NULL || (a = alerts_for(h, "/services/T0/B0/SECRET")) == NULL)
		goto out;
	capture_begin(&cap);
	proxy_alerts_post(a, &al);
	wait_outcomes(a, 1);
	check_stats(a, 0, 1, 0);
	proxy_alerts_stop(a);
	log = capture_end(&cap);
	CHECK_U64(httpd_nrequests(h), PROXY_ALERT_TRIES);
	snprintf(origin, sizeof(origin), "to http://127.0.0.1:%d after 5 tries",
	         httpd_port(h));
	CHECK_U64(count_of(log, "alerts: gave up"), 1);
	CHECK(strstr(log, origin) != NULL);
	CHECK(strstr(log, "workspace team-b") != NULL);
	CHECK(strstr(log, "warning") != NULL);
	CHECK(strstr(log, "HTTP status 500") != NULL);
	CHECK(strstr(log, "SECRET") == NULL);
	CHECK(strstr(log, "/services") == NULL);
	free(log);
out:
	httpd_stop(h);
}

TEST(proxy_alerts_post_unreachable)
{
	struct proxy_alerts *a;
	struct proxy_alert al = alert_fixture("team-c", 1);
	struct capture cap;
	char err[256] = "", *log;

	/* Port 1 on loopback: refused at once, every try. */
	a = proxy_alerts_start("http://127.0.0.1:1/x", NULL, err, sizeof(err));
	CHECK(a != NULL);
	if (a == NULL)
		return;
	proxy_alerts_set_backoff_ms(a, 1);
	capture_begin(&cap);
	proxy_alerts_post(a, &al);
	wait_outcomes(a, 1);
	check_stats(a, 0, 1, 0);
	proxy_alerts_stop(a);
	log = capture_end(&cap);
	CHECK(strstr(log, "refused") != NULL);
	free(log);
}

TEST(proxy_alerts_post_queue_full)
{
	struct httpd_reply r[] = {{HTTPD_HOLD, ok200, 0},
	                          {HTTPD_SEND, ok200, 0}};
	struct httpd *h = server(r, 2);
	struct proxy_alerts *a;
	struct proxy_alert al = alert_fixture("team-d", 1);
	struct capture cap;
	char *log;
	int i;

	if (h == NULL || (a = alerts_for(h, "/")) == NULL)
		goto out;
	capture_begin(&cap);
	/* The first is in delivery, held by the server; then the queue
	 * fills and the rest are dropped. */
	proxy_alerts_post(a, &al);
	CHECK(httpd_wait(h, 1, 2000) == 0);
	for (i = 0; i < PROXY_ALERT_QUEUE + 3; i++)
		proxy_alerts_post(a, &al);
	check_stats(a, 0, 0, 3);
	httpd_release(h);
	wait_outcomes(a, PROXY_ALERT_QUEUE + 1);
	/* a second burst logs again */
	for (i = 0; i < PROXY_ALERT_QUEUE + 2; i++)
		proxy_alerts_post(a, &al);
	proxy_alerts_stop(a);
	log = capture_end(&cap);
	CHECK(count_of(log, "alerts: queue full") >= 1);
	CHECK(count_of(log, "alerts: queue full") <= 2);
	CHECK(strstr(log, "team-d") != NULL);
	free(log);
out:
	httpd_stop(h);
}

TEST(proxy_alerts_post_no_url)
{
	struct proxy_alerts *a;
	struct proxy_alert al = alert_fixture("team-e", 1);
	struct capture cap;
	char err[256] = "", *log;

	a = proxy_alerts_start(NULL, NULL, err, sizeof(err));
	CHECK(a != NULL);
	if (a == NULL)
		return;
	capture_begin(&cap);
	proxy_alerts_post(a, &al);
	check_stats(a, 0, 0, 0);
	proxy_alerts_stop(a);
	log = capture_end(&cap);
	CHECK_STR(log, "");
	free(log);
}

TEST(proxy_alerts_start_bad_url)
{
	char err[256] = "";

	CHECK(proxy_alerts_start("ftp://example.com/", NULL, err,
	                         sizeof(err)) == NULL);
	CHECK(strstr(err, "https://") != NULL);
}

TEST(proxy_alerts_set_url_reload)
{
	struct httpd_reply r = {HTTPD_SEND, ok200, 0};
	struct httpd *h = server(&r, 1);
	struct proxy_alerts *a = NULL;
	struct proxy_alert al = alert_fixture("team-f", 1);
	struct capture cap;
	char url[128], err[256] = "", *log;

	if (h == NULL)
		goto out;
	a = proxy_alerts_start(NULL, NULL, err, sizeof(err));
	CHECK(a != NULL);
	if (a == NULL)
		goto out;
	capture_begin(&cap);
	proxy_alerts_post(a, &al); /* off: dropped silently */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/on", httpd_port(h));
	proxy_alerts_set_url(a, url);
	proxy_alerts_post(a, &al);
	wait_outcomes(a, 1);
	proxy_alerts_set_url(a, NULL);
	proxy_alerts_post(a, &al);
	proxy_alerts_set_url(a, "gopher://x/"); /* refused: off, logged */
	proxy_alerts_post(a, &al);
	check_stats(a, 1, 0, 0);
	proxy_alerts_stop(a);
	log = capture_end(&cap);
	CHECK(strstr(log, "alerts are off") != NULL);
	free(log);
	CHECK_U64(httpd_nrequests(h), 1);
	CHECK(strncmp(httpd_raw(h, 0), "POST /on ", 9) == 0);
out:
	httpd_stop(h);
}

TEST(proxy_alerts_stop_delivers_queued)
{
	struct httpd_reply r = {HTTPD_SEND, ok200, 0};
	struct httpd *h = server(&r, 1);
	struct proxy_alerts *a;
	struct proxy_alert al = alert_fixture("team-g", 1);
	struct capture cap;
	char *log;
	int i;

	if (h == NULL || (a = alerts_for(h, "/")) == NULL)
		goto out;
	capture_begin(&cap);
	for (i = 0; i < 5; i++)
		proxy_alerts_post(a, &al);
	proxy_alerts_stop(a);
	log = capture_end(&cap);
	CHECK_U64(httpd_nrequests(h), 5);
	CHECK(strstr(log, "not sent") == NULL);
	free(log);
out:
	httpd_stop(h);
}

TEST(proxy_alerts_stop_idle)
{
	char err[256] = "";
	struct proxy_alerts *a =
	    proxy_alerts_start("http://127.0.0.1:1/", NULL, err, sizeof(err));
	int64_t t0;

	CHECK(a != NULL);
	t0 = now_ms();
	proxy_alerts_stop(a);
	CHECK(now_ms() - t0 < 100);
	proxy_alerts_stop(NULL);
}
