/*
 * proxy/admin_recon.c — reconciliation reports.
 * NOT BUILT YET: scaffolding for the module's owner; every handler
 * answers 404 saying so.
 */
#include "proxy/admin_int.h"

void
admin_recon_reconciliation(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

void
admin_recon_real_vs_estimated(struct proxy_admin *ad, struct evhttp_request *req, const char *arg)
{
	(void)ad;
	(void)arg;
	admin_json_error(req, 404, "not_built", "not built yet");
}

int
admin_recon_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
                 const char *from, const char *to, char *err, size_t errlen)
{
	(void)ad;
	(void)ws;
	(void)from;
	(void)to;
	(void)err;
	(void)errlen;
	evbuffer_add_printf(b, "{\"rows\":[],\"last_run\":null,"
	                       "\"status\":\"disabled\"}");
	return 0;
}

void
admin_recon_metrics(struct proxy_admin *ad, struct evbuffer *b)
{
	(void)ad;
	(void)b;
}
