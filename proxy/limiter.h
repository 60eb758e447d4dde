/*
 * proxy/limiter.h — the per-workspace limiter table shared by the workers.
 *
 * One entry per workspace name: its limits from the running config and
 * its meter/limit state behind its own mutex, so workers on different
 * workspaces never contend and the admin thread can read live counters.
 * Entries are never freed while the proxy runs; lookups are lock-free.
 *
 * Unknown workspace names (require_known_workspace off) get entries of
 * their own with the default workspace's limits, up to
 * PROXY_LIMITER_MAX_UNKNOWN of them; beyond that they are counted
 * against "default" itself.
 */
#ifndef PROXY_LIMITER_H
#define PROXY_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "meter/limit.h"
#include "proxy/config.h"

#define PROXY_LIMITER_MAX_UNKNOWN 1024 /* entries for unconfigured names */

struct proxy_alerts;
struct proxy_limiter;
struct proxy_limiter_entry;

/* A reservation held by a request between admit and settle. */
struct proxy_limit_grant {
	struct proxy_limiter_entry *e; /* NULL: nothing held */
	struct meter_limit_ticket t;
};

/* Why a request was refused, with what the 429 shows. */
struct proxy_limit_refusal {
	struct meter_limit_verdict v;
	struct meter_limit_view view;
	struct meter_limits limits;
	char workspace[CONFIG_NAME_MAX];
};

/* Live state of one workspace (the admin API's /api/workspaces). */
struct proxy_limiter_status {
	char workspace[CONFIG_NAME_MAX];
	int configured; /* named in the running config */
	struct meter_limits limits;
	uint64_t rpm, rpd, tpm, tpd; /* window totals, reservations included */
	uint64_t inflight, reserved_tokens, reserved_nanousd;
	uint64_t daily_spent, monthly_spent; /* settled nano-USD */
	enum meter_limit_level daily_level, monthly_level;
};

/* The table for cfg's workspaces; alerts may be NULL.  NULL on
 * allocation failure. */
struct proxy_limiter *proxy_limiter_new(const struct config *cfg,
                                        struct proxy_alerts *alerts);
void proxy_limiter_free(struct proxy_limiter *l);

/* SIGHUP: takes limits from cfg (new workspaces get entries; counters
 * are kept).  Main thread; workers may be admitting meanwhile.  -1 when
 * the table is full (the old limits stay for what did not fit). */
int proxy_limiter_configure(struct proxy_limiter *l, const struct config *cfg);

/* Start-up: rebuilds day windows, the last minute and this day's and
 * month's spend from the database at db.  Main thread, before workers
 * start.  -1 with a message in err. */
int proxy_limiter_rebuild(struct proxy_limiter *l, const char *db,
                          int64_t now_ms, char *err, size_t errlen);

/* Admits a request of workspace ws asking for *ask: 0 with *g holding the
 * reservation, or -1 with *rf saying why.  Worker threads. */
int proxy_limiter_admit(struct proxy_limiter *l, const char *ws,
                        const struct meter_limit_ask *ask, int64_t now_ms,
                        struct proxy_limit_grant *g,
                        struct proxy_limit_refusal *rf);

/* The x-ratelimit-* numbers of the grant's workspace; 0 when it has no
 * rate limits to show. */
int proxy_limiter_view(struct proxy_limiter *l,
                       const struct proxy_limit_grant *g, int64_t now_ms,
                       struct meter_limit_view *v);

/* Settles the grant with the real tokens and cost (idempotent); logs and
 * posts any budget threshold it crossed. */
void proxy_limiter_settle(struct proxy_limiter *l, struct proxy_limit_grant *g,
                          uint64_t tokens, uint64_t nanousd, int64_t now_ms);

/* Charges workspace ws with spend no grant of its own reserved (a
 * background response or batch it created, metered on another request's
 * poll); logs and posts thresholds like settle.  Worker threads. */
void proxy_limiter_charge(struct proxy_limiter *l, const char *ws,
                          uint64_t nanousd, int64_t now_ms);

/* Copies up to cap workspaces' live state into out; returns how many
 * there are.  Any thread. */
size_t proxy_limiter_snapshot(struct proxy_limiter *l, int64_t now_ms,
                              struct proxy_limiter_status *out, size_t cap);

#endif
