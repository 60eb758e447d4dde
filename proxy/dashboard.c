/*
 * proxy/dashboard.c — the dashboard page at /.
 * NOT BUILT YET: scaffolding for the module's owner; every handler
 * answers 404 saying so.
 */
#include "proxy/admin_int.h"

void
admin_dashboard_page(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

