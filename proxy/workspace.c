/*
 * proxy/workspace.c — workspace attribution (see workspace.h).  Worker
 * threads; reads the frozen config only.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proxy/workspace.h"

static void
sha256_hex(const char *s, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned int i;

	EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

/* The bearer token of Authorization, or NULL. */
static const char *
bearer(const struct proxy_http_head *h, size_t *len)
{
	size_t n;
	const char *v = proxy_http_get(h, "authorization", &n);

	if (v == NULL || n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7;
	n -= 7;
	while (n > 0 && *v == ' ') {
		v++;
		n--;
	}
	while (n > 0 && v[n - 1] == ' ')
		n--;
	*len = n;
	return n > 0 ? v : NULL;
}

static const struct config_workspace *
by_key(const struct config *cfg, const char *key, size_t n)
{
	char full[72];
	size_t i, k;
	int any = 0;

	for (i = 0; i < cfg->nws && !any; i++)
		any = cfg->ws[i].nkeys > 0;
	if (!any)
		return NULL; /* no workspace lists keys: skip the hash */
	snprintf(full, sizeof(full), "sha256:");
	sha256_hex(key, n, full + 7);
	for (i = 0; i < cfg->nws; i++)
		for (k = 0; k < cfg->ws[i].nkeys; k++)
			if (strcmp(cfg->ws[i].keys[k], full) == 0)
				return &cfg->ws[i];
	return NULL;
}

enum workspace_rc
proxy_workspace_resolve(const struct config *cfg, const char *proxy_user,
                        const struct proxy_http_head *h,
                        struct workspace_result *out)
{
	size_t n = 0, kn = 0;
	const char *v = proxy_http_get(h, cfg->workspace_header, &n);
	const char *key = bearer(h, &kn);
	const struct config_workspace *kw = NULL;

	memset(out, 0, sizeof(*out));
	if (key != NULL)
		kw = by_key(cfg, key, kn);
	if (kw != NULL)
		out->upstream_key = kw->upstream_key;
	if (v != NULL) {
		if (!config_valid_workspace_name(v, n))
			return WORKSPACE_BAD_NAME;
		memcpy(out->name, v, n);
		out->name[n] = '\0';
		out->ws = config_workspace(cfg, v, n);
		if (out->ws != kw)
			out->upstream_key = NULL; /* key of another workspace */
		if (out->ws == NULL && cfg->require_known_workspace)
			return WORKSPACE_UNKNOWN;
		return WORKSPACE_OK;
	}
	if (kw != NULL) {
		snprintf(out->name, sizeof(out->name), "%s", kw->name);
		out->ws = kw;
		return WORKSPACE_OK;
	}
	if (proxy_user != NULL && proxy_user[0] != '\0') {
		snprintf(out->name, sizeof(out->name), "%s", proxy_user);
		out->ws = config_workspace(cfg, proxy_user, strlen(proxy_user));
		if (out->ws == NULL && cfg->require_known_workspace)
			return WORKSPACE_UNKNOWN;
		return WORKSPACE_OK;
	}
	snprintf(out->name, sizeof(out->name), "default");
	out->ws = &cfg->ws[0];
	return WORKSPACE_OK;
}
