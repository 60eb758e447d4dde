/*
 * proxy/events.h — live request events for GET /api/events.
 *
 * Workers publish each finished request; the admin thread streams them to
 * its server-sent-event clients.  Publishing copies into a bounded ring
 * under a short lock and never blocks on a slow client: each reader keeps
 * its own cursor (a sequence number), and a reader that falls more than
 * PROXY_EVENTS_RING events behind skips ahead and is told how many it
 * lost.  The ring is written by any thread and read by the admin thread.
 */
#ifndef PROXY_EVENTS_H
#define PROXY_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define PROXY_EVENTS_RING 4096 /* events kept for readers (~3.6 MiB) */

struct event;
struct proxy_events;

/* One published request; seq counts from 1 since the ring was made. */
struct proxy_events_item {
	uint64_t seq;
	struct store_record rec;
};

/* NULL on allocation failure. */
struct proxy_events *proxy_events_new(void);
void proxy_events_free(struct proxy_events *ev);

/* One finished request (the row as stored).  Worker threads; NULL ev is
 * fine (does nothing). */
void proxy_events_publish(struct proxy_events *ev,
                          const struct store_record *rec);

/*
 * The event to make active (event_active, from the publishing thread)
 * after each publish, so the reader's event loop wakes; NULL detaches.
 * Once this returns after detaching, no publish touches the old event
 * any more, so its owner may free it.  The event's base must have been
 * made after evthread_use_pthreads.  Admin thread (or before it starts).
 */
void proxy_events_set_wake(struct proxy_events *ev, struct event *wake);

/* The sequence number the next publish gets: a new reader's cursor when
 * it wants only events from now on. */
uint64_t proxy_events_next(struct proxy_events *ev);

/*
 * Copies the events from *cursor on, at most cap of them, into out and
 * advances *cursor past them; returns how many.  When *cursor had already
 * fallen out of the ring, *lost says how many events were skipped (else
 * 0) and reading resumes at the oldest kept.  Any thread.
 */
size_t proxy_events_read(struct proxy_events *ev, uint64_t *cursor,
                         struct proxy_events_item *out, size_t cap,
                         uint64_t *lost);

#endif
