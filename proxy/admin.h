/*
 * proxy/admin.h — the admin HTTP listener, on a thread of its own with its
 * own event_base (DESIGN.md "Threads"), so reports never stall traffic.
 */
#ifndef PROXY_ADMIN_H
#define PROXY_ADMIN_H

#include <stddef.h>

#include "proxy/proxy.h"

struct proxy_admin;

/* Binds the admin listener and starts its thread.  NULL with err. */
struct proxy_admin *proxy_admin_start(struct proxy *px, char *err,
                                      size_t errlen);

/* Stops the thread and frees. */
void proxy_admin_stop(struct proxy_admin *ad);

#endif
