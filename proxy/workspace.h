/*
 * proxy/workspace.h — which workspace a request belongs to (DESIGN.md
 * "Workspaces"): the workspace header, else the workspace listing the
 * SHA-256 of the request's bearer key, else "default".
 */
#ifndef PROXY_WORKSPACE_H
#define PROXY_WORKSPACE_H

#include "proxy/config.h"
#include "proxy/http.h"

#define WORKSPACE_KEY_TAG 20 /* "sha256:" + 12 hex + NUL */

struct workspace_result {
	char name[CONFIG_NAME_MAX];
	const struct config_workspace *ws; /* NULL: not configured */
	char key_tag[WORKSPACE_KEY_TAG];   /* bearer key's hash prefix, or "" */
};

enum workspace_rc {
	WORKSPACE_OK,
	WORKSPACE_BAD_NAME, /* header value is not a valid name: 400 */
	WORKSPACE_UNKNOWN,  /* require_known_workspace and unknown: 403 */
};

enum workspace_rc proxy_workspace_resolve(const struct config *cfg,
                                          const struct proxy_http_head *h,
                                          struct workspace_result *out);

/* "sha256:" + 12 hex digits of the key's hash, for logs. */
void proxy_workspace_key_tag(const char *key, size_t len, char *out);

#endif
