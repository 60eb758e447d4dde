/*
 * proxy/workspace.h — which workspace a request belongs to (DESIGN.md
 * "Workspaces"): the workspace header, else the workspace listing the
 * SHA-256 of the request's bearer key, else "default".
 */
#ifndef PROXY_WORKSPACE_H
#define PROXY_WORKSPACE_H

#include "proxy/config.h"
#include "proxy/http.h"

struct workspace_result {
	char name[CONFIG_NAME_MAX];
	const struct config_workspace *ws; /* NULL: not configured */
	/* The real key to send upstream instead of the client's, or NULL:
	 * only when the client's bearer key is one of the workspace's own
	 * keys (a workspace name in a header unlocks nothing). */
	const char *upstream_key;
};

enum workspace_rc {
	WORKSPACE_OK,
	WORKSPACE_BAD_NAME, /* header value is not a valid name: 400 */
	WORKSPACE_UNKNOWN,  /* require_known_workspace and unknown: 403 */
};

/* proxy_user: the user name of a forward-proxy CONNECT's
 * Proxy-Authorization (DESIGN.md order: header, key, proxy user, default),
 * or NULL. */
enum workspace_rc proxy_workspace_resolve(const struct config *cfg,
                                          const char *proxy_user,
                                          const struct proxy_http_head *h,
                                          struct workspace_result *out);

#endif
