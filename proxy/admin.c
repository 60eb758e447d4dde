/*
 * proxy/admin.c — admin API (see admin.h).  Admin thread only.
 *
 * Serves /healthz (no auth; also proves the database readable through the
 * admin thread's read-only connection) and /metrics.  The reporting API of
 * DESIGN.md
 * (/api/usage/..., /api/quota/..., the dashboard) is not built yet: those
 * paths answer 404 saying so.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/admin.h"
#include "proxy/log.h"
#include "proxy/reply.h"

struct proxy_admin {
	struct proxy *px;
	struct store_reader *reader; /* read-only: reports never block writes */
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	int started;
};

static void
admin_json_error(struct evhttp_request *req, int status, const char *code,
                 const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		return;
	evbuffer_add_printf(b, "{\"error\":{\"message\":");
	proxy_reply_json_string(b, msg);
	evbuffer_add_printf(b,
	                    ",\"type\":\"invalid_request_error\","
	                    "\"param\":null,\"code\":\"%s\"}}\n",
	                    code);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "application/json");
	evhttp_send_reply(req, status, proxy_reply_reason(status), b);
	evbuffer_free(b);
}

static int
admin_authorized(struct proxy_admin *ad, struct evhttp_request *req)
{
	const char *tok = ad->px->cfg->admin_token;
	const char *h;

	if (tok == NULL)
		return 1;
	h = evhttp_find_header(evhttp_request_get_input_headers(req),
	                       "Authorization");
	return h != NULL && strncmp(h, "Bearer ", 7) == 0 &&
	       strcmp(h + 7, tok) == 0;
}

static void
admin_metrics(struct proxy_admin *ad, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	struct store_stats ss;
	char err[256];
	int64_t last;

	if (b == NULL)
		return;
	proxy_metrics_write(&ad->px->metrics, b);
	store_stats(ad->px->store, &ss);
	if (store_reader_last_id(ad->reader, &last, err, sizeof(err)) == 0)
		evbuffer_add_printf(
		    b,
		    "# HELP tollgate_store_last_request_id Highest "
		    "request id readable in the database.\n"
		    "# TYPE tollgate_store_last_request_id gauge\n"
		    "tollgate_store_last_request_id %" PRId64 "\n",
		    last);
	evbuffer_add_printf(
	    b,
	    "# HELP tollgate_store_rows_committed_total Rows written.\n"
	    "# TYPE tollgate_store_rows_committed_total counter\n"
	    "tollgate_store_rows_committed_total %" PRIu64 "\n"
	    "# HELP tollgate_store_queue_depth Rows waiting for the writer.\n"
	    "# TYPE tollgate_store_queue_depth gauge\n"
	    "tollgate_store_queue_depth %zu\n"
	    "# HELP tollgate_store_write_failures_total Failed transactions "
	    "(retried).\n"
	    "# TYPE tollgate_store_write_failures_total counter\n"
	    "tollgate_store_write_failures_total %" PRIu64 "\n",
	    ss.committed, ss.queued, ss.failures);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
admin_send_json(struct evhttp_request *req, int status, struct evbuffer *b)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "application/json");
	evhttp_send_reply(req, status, proxy_reply_reason(status), b);
}

/* Healthy = the admin thread answers and the database can be read. */
static void
admin_healthz(struct proxy_admin *ad, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	char err[256], msg[300];
	int64_t id;

	if (b == NULL)
		return;
	if (store_reader_last_id(ad->reader, &id, err, sizeof(err)) == 0) {
		evbuffer_add_printf(b, "{\"status\":\"ok\"}\n");
		admin_send_json(req, 200, b);
	} else {
		snprintf(msg, sizeof(msg), "error: database: %s", err);
		evbuffer_add_printf(b, "{\"status\":");
		proxy_reply_json_string(b, msg);
		evbuffer_add_printf(b, "}\n");
		admin_send_json(req, 503, b);
	}
	evbuffer_free(b);
}

static void
admin_on_request(struct evhttp_request *req, void *arg)
{
	struct proxy_admin *ad = arg;
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path == NULL)
		path = "/";
	if (strcmp(path, "/healthz") == 0) {
		admin_healthz(ad, req);
		return;
	}
	if (!admin_authorized(ad, req)) {
		admin_json_error(
		    req, 401, "invalid_admin_token",
		    "this admin "
		    "path needs Authorization: Bearer <admin_token>");
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		admin_metrics(ad, req);
		return;
	}
	admin_json_error(
	    req, 404, "not_found",
	    strncmp(path, "/api/", 5) == 0 || strcmp(path, "/") == 0
	        ? "the reporting API and dashboard are not built yet; "
	          "/healthz and /metrics are"
	        : "unknown admin path");
}

static void *
admin_main(void *arg)
{
	struct proxy_admin *ad = arg;

	event_base_dispatch(ad->base);
	return NULL;
}

struct proxy_admin *
proxy_admin_start(struct proxy *px, char *err, size_t errlen)
{
	const struct config *cfg = px->cfg;
	struct proxy_admin *ad = calloc(1, sizeof(*ad));

	if (ad == NULL || (ad->base = event_base_new()) == NULL ||
	    (ad->http = evhttp_new(ad->base)) == NULL) {
		snprintf(err, errlen, "cannot set up the admin listener");
		proxy_admin_stop(ad);
		return NULL;
	}
	ad->px = px;
	if ((ad->reader = store_reader_open(cfg->db, err, errlen)) == NULL) {
		proxy_admin_stop(ad);
		return NULL;
	}
	evhttp_set_gencb(ad->http, admin_on_request, ad);
	evhttp_set_allowed_methods(ad->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(ad->http, 16384);
	evhttp_set_max_body_size(ad->http, 65536);
	evhttp_set_timeout(ad->http, 30);
	if (evhttp_bind_socket(ad->http, cfg->admin_host,
	                       (ev_uint16_t)cfg->admin_port) != 0) {
		snprintf(err, errlen,
		         "cannot listen on admin address %s:%d "
		         "(in use? choose another with --admin-listen)",
		         cfg->admin_host, cfg->admin_port);
		proxy_admin_stop(ad);
		return NULL;
	}
	if (pthread_create(&ad->thread, NULL, admin_main, ad) != 0) {
		snprintf(err, errlen, "cannot start the admin thread");
		proxy_admin_stop(ad);
		return NULL;
	}
	ad->started = 1;
	return ad;
}

void
proxy_admin_stop(struct proxy_admin *ad)
{
	if (ad == NULL)
		return;
	if (ad->started) {
		event_base_loopexit(ad->base, NULL);
		pthread_join(ad->thread, NULL);
	}
	if (ad->http != NULL)
		evhttp_free(ad->http);
	store_reader_close(ad->reader);
	if (ad->base != NULL)
		event_base_free(ad->base);
	free(ad);
}
