/*
 * proxy/account.h — turning one finished request into one priced row, one
 * log line and the metrics.  Worker threads.
 */
#ifndef PROXY_ACCOUNT_H
#define PROXY_ACCOUNT_H

#include <stdint.h>

#include "meter/request.h"
#include "meter/usage.h"
#include "proxy/limiter.h"
#include "proxy/proxy.h"

struct account_req {
	uint64_t conn_id;
	const char *workspace;
	const char *method;
	const char *target;
	const struct meter_request *mreq;
	const struct meter_usage *usage; /* NULL: no metered response */
	const char *meter_problem;       /* why usage may be missing */
	int status;                      /* what the client got */
	int sent;                        /* the request reached the upstream */
	int answered;                    /* the upstream sent a response head */
	int64_t start_ms, end_ms;
	const char *upstream_request_id;
	const char *error;               /* NULL when none */
	const char *limit_hit;           /* NULL when none */
	struct proxy_limit_grant *grant; /* settled here (NULL: none) */
	int reserved;                    /* holds a store reservation */
};

/* Records the request (store, metrics, log) and settles its limiter
 * reservation with the recorded tokens and cost.  Never fails: a record
 * with no store reservation that finds the queue full is counted and
 * logged. */
void proxy_account_finish(struct proxy *px, const struct account_req *r);

/* Would model be priced?  (unpriced_model: deny.) */
int proxy_account_priced(struct proxy *px, const char *model);

int64_t proxy_now_ms(void);

#endif
