/*
 * proxy/background.c — pending background responses (see background.h).
 *
 * A chained hash of ids behind one mutex: adds and claims are rare next
 * to requests (one each per background response), so one lock is enough.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/usage.h"
#include "proxy/background.h"
#include "proxy/config.h"
#include "store/store.h"

#define BG_BUCKETS 4096

struct bg_entry {
	struct bg_entry *next;
	char id[METER_MAX_ID];
	char ws[CONFIG_NAME_MAX];
};

struct proxy_background {
	pthread_mutex_t mu;
	struct bg_entry *bucket[BG_BUCKETS];
	size_t n;
};

static unsigned
bg_hash(const char *s)
{
	unsigned h = 2166136261u; /* FNV-1a */

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % BG_BUCKETS;
}

struct proxy_background *
proxy_background_new(void)
{
	struct proxy_background *b = calloc(1, sizeof(*b));

	if (b != NULL)
		pthread_mutex_init(&b->mu, NULL);
	return b;
}

void
proxy_background_free(struct proxy_background *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < BG_BUCKETS; i++)
		while (b->bucket[i] != NULL) {
			struct bg_entry *e = b->bucket[i];

			b->bucket[i] = e->next;
			free(e);
		}
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/* The link pointing at id's entry (mutex held). */
static struct bg_entry **
bg_find(struct proxy_background *b, const char *id)
{
	struct bg_entry **p = &b->bucket[bg_hash(id)];

	while (*p != NULL && strcmp((*p)->id, id) != 0)
		p = &(*p)->next;
	return p;
}

int
proxy_background_add(struct proxy_background *b, const char *id,
                     const char *workspace)
{
	struct bg_entry **p, *e;
	int rc = 0;

	pthread_mutex_lock(&b->mu);
	p = bg_find(b, id);
	if (*p == NULL) {
		if (b->n >= PROXY_BACKGROUND_MAX ||
		    (e = calloc(1, sizeof(*e))) == NULL) {
			rc = -1;
		} else {
			snprintf(e->id, sizeof(e->id), "%s", id);
			snprintf(e->ws, sizeof(e->ws), "%s", workspace);
			*p = e;
			b->n++;
		}
	}
	pthread_mutex_unlock(&b->mu);
	return rc;
}

int
proxy_background_claim(struct proxy_background *b, const char *id, char *ws,
                       size_t cap)
{
	struct bg_entry **p, *e = NULL;

	pthread_mutex_lock(&b->mu);
	p = bg_find(b, id);
	if ((e = *p) != NULL) {
		*p = e->next;
		b->n--;
	}
	pthread_mutex_unlock(&b->mu);
	if (e == NULL)
		return 0;
	snprintf(ws, cap, "%s", e->ws);
	free(e);
	return 1;
}

size_t
proxy_background_pending(struct proxy_background *b)
{
	size_t n;

	pthread_mutex_lock(&b->mu);
	n = b->n;
	pthread_mutex_unlock(&b->mu);
	return n;
}

static void
bg_load_one(void *arg, const char *id, const char *ws)
{
	if (id != NULL && ws != NULL)
		proxy_background_add(arg, id, ws);
}

int
proxy_background_load(struct proxy_background *b, const char *db, char *err,
                      size_t errlen)
{
	struct store_reader *rd = store_reader_open(db, err, errlen);
	int rc;

	if (rd == NULL)
		return -1;
	rc = store_reader_background_pending(rd, PROXY_BACKGROUND_MAX,
	                                     bg_load_one, b, err, errlen);
	store_reader_close(rd);
	return rc;
}
