/*
 * proxy/events.c — live request events (see events.h).
 * NOT BUILT YET: scaffolding for the module's owner.
 */
#include <stdlib.h>

#include "proxy/events.h"

struct proxy_events {
	int unused;
};

struct proxy_events *
proxy_events_new(void)
{
	return calloc(1, sizeof(struct proxy_events));
}

void
proxy_events_free(struct proxy_events *ev)
{
	free(ev);
}

void
proxy_events_publish(struct proxy_events *ev, const struct store_record *rec)
{
	(void)ev;
	(void)rec;
}
