/*
 * proxy/events.c — live request events (see events.h).
 *
 * Publishers are the worker threads (through proxy/account.c); the reader
 * is the admin thread.  Owns the ring of PROXY_EVENTS_RING items and its
 * mutex; borrows the wake event, which belongs to the admin thread.  The
 * lock is held for one record copy (publish) or one batch copy (read).
 */
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

#include "proxy/events.h"

struct proxy_events {
	pthread_mutex_t mu;
	uint64_t next;      /* seq of the next publish (from 1) */
	struct event *wake; /* borrowed: made active after a publish */
	struct proxy_events_item *ring; /* item seq at ring[seq % RING] */
};

struct proxy_events *
proxy_events_new(void)
{
	struct proxy_events *ev = calloc(1, sizeof(*ev));

	if (ev == NULL)
		return NULL;
	ev->ring = calloc(PROXY_EVENTS_RING, sizeof(*ev->ring));
	if (ev->ring == NULL || pthread_mutex_init(&ev->mu, NULL) != 0) {
		free(ev->ring);
		free(ev);
		return NULL;
	}
	ev->next = 1;
	return ev;
}

void
proxy_events_free(struct proxy_events *ev)
{
	if (ev == NULL)
		return;
	pthread_mutex_destroy(&ev->mu);
	free(ev->ring);
	free(ev);
}

void
proxy_events_publish(struct proxy_events *ev, const struct store_record *rec)
{
	struct proxy_events_item *it;

	if (ev == NULL || rec == NULL)
		return;
	pthread_mutex_lock(&ev->mu);
	it = &ev->ring[ev->next % PROXY_EVENTS_RING];
	it->seq = ev->next++;
	it->rec = *rec;
	/* Under the lock, so set_wake(NULL) fences the old event off. */
	if (ev->wake != NULL)
		event_active(ev->wake, EV_READ, 0);
	pthread_mutex_unlock(&ev->mu);
}

void
proxy_events_set_wake(struct proxy_events *ev, struct event *wake)
{
	if (ev == NULL)
		return;
	pthread_mutex_lock(&ev->mu);
	ev->wake = wake;
	pthread_mutex_unlock(&ev->mu);
}

uint64_t
proxy_events_next(struct proxy_events *ev)
{
	uint64_t n;

	if (ev == NULL)
		return 1;
	pthread_mutex_lock(&ev->mu);
	n = ev->next;
	pthread_mutex_unlock(&ev->mu);
	return n;
}

size_t
proxy_events_read(struct proxy_events *ev, uint64_t *cursor,
                  struct proxy_events_item *out, size_t cap, uint64_t *lost)
{
	uint64_t oldest;
	size_t n = 0;

	*lost = 0;
	if (ev == NULL)
		return 0;
	pthread_mutex_lock(&ev->mu);
	oldest =
	    ev->next > PROXY_EVENTS_RING ? ev->next - PROXY_EVENTS_RING : 1;
	if (*cursor < oldest) {
		*lost = oldest - *cursor;
		*cursor = oldest;
	}
	if (*cursor > ev->next)
		*cursor = ev->next;
	while (n < cap && *cursor < ev->next) {
		out[n++] = ev->ring[*cursor % PROXY_EVENTS_RING];
		(*cursor)++;
	}
	pthread_mutex_unlock(&ev->mu);
	return n;
}
