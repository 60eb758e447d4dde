/*
 * proxy/admin_usage.c — usage and quota reports, CSV, live events.
 * NOT BUILT YET: scaffolding for the module's owner; every handler
 * answers 404 saying so.
 */
#include "proxy/admin_int.h"

void
admin_usage_current_month(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_usage_today(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_usage_budget_status(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_usage_model_comparison(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_usage_cost_trend(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_usage_cost_intelligence(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_usage_dashboard(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_usage_quota_status(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_usage_rows(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_usage_csv(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_usage_events(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

int
admin_usage_init(struct proxy_admin *ad)
{
	(void)ad;
	return 0;
}

void
admin_usage_free(struct proxy_admin *ad)
{
	(void)ad;
}
