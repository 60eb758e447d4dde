/*
 * proxy/events.h — live request events for GET /api/events.
 *
 * Workers publish each finished request; the admin thread streams them to
 * its server-sent-event clients.  Publishing copies into a bounded ring
 * under a short lock and never blocks on a slow client (a client that
 * falls behind the ring loses the oldest events and is told so).
 */
#ifndef PROXY_EVENTS_H
#define PROXY_EVENTS_H

#include "store/store.h"

struct proxy_events;

/* NULL on allocation failure. */
struct proxy_events *proxy_events_new(void);
void proxy_events_free(struct proxy_events *ev);

/* One finished request (the row as stored).  Worker threads; NULL ev is
 * fine (does nothing). */
void proxy_events_publish(struct proxy_events *ev,
                          const struct store_record *rec);

#endif
