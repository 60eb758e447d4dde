/*
 * proxy/reconciler.h — the reconciler thread (DESIGN.md "Threads"): every
 * reconcile.interval_s it pages through OpenAI's organization Usage and
 * Costs APIs with the admin key and has store/reconcile compare them with
 * the proxy's own rows.  `tollgate reconcile --once` runs one pass.
 */
#ifndef PROXY_RECONCILER_H
#define PROXY_RECONCILER_H

#include <stddef.h>

#include "proxy/proxy.h"

struct proxy_reconciler;

/*
 * Starts the thread.  Without the admin key (reconcile.admin_key_env
 * unset or empty) reconciliation is off: one log line says how to turn it
 * on, and the handle returned does nothing.  NULL with err on failure.
 */
struct proxy_reconciler *proxy_reconciler_start(struct proxy *px, char *err,
                                                size_t errlen);
void proxy_reconciler_stop(struct proxy_reconciler *rc);

/* tollgate reconcile --once [-c FILE]: argv[0] is "reconcile".  Exit
 * status: 0 done, 1 could not reconcile, 2 usage. */
int proxy_reconcile_main(int argc, char **argv);

#endif
