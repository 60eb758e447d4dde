/*
 * proxy/background.h — Responses API background mode (openai-wire.md
 * §3.3): which background responses were created through the proxy and
 * are not metered yet, so the usage a later GET /v1/responses/{id} shows
 * is metered exactly once, for the workspace that created the response.
 *
 * Shared by the workers behind one mutex; persisted through the store
 * (table background_responses) and reloaded at start-up.
 */
#ifndef PROXY_BACKGROUND_H
#define PROXY_BACKGROUND_H

#include <stddef.h>

#define PROXY_BACKGROUND_MAX 65536 /* pending responses tracked */

struct proxy_background;

/* NULL on allocation failure. */
struct proxy_background *proxy_background_new(void);
void proxy_background_free(struct proxy_background *b);

/* Remembers id as created by workspace and pending.  0 (also when it is
 * already known), or -1 when PROXY_BACKGROUND_MAX are pending. */
int proxy_background_add(struct proxy_background *b, const char *id,
                         const char *workspace);

/* Takes a pending id for metering: 1 with its workspace in ws (the id is
 * no longer pending, so no other caller gets it), 0 when unknown or
 * already taken. */
int proxy_background_claim(struct proxy_background *b, const char *id, char *ws,
                           size_t cap);

/* Start-up: the pending ids in the database at db.  -1 with err. */
int proxy_background_load(struct proxy_background *b, const char *db, char *err,
                          size_t errlen);

/* How many are pending. */
size_t proxy_background_pending(struct proxy_background *b);

#endif
