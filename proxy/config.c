/*
 * proxy/config.c — configuration loading and validation (see config.h).
 * Main thread only (start-up and SIGHUP); the result is immutable.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meter/price.h"
#include "proxy/config.h"

#define CONFIG_FILE_MAX (16 * 1024 * 1024) /* bytes of config file read */

struct cfg_ctx {
	struct config *cfg;
	char *err;
	size_t errlen;
};

static int cfg_fail(struct cfg_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
cfg_fail(struct cfg_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
cfg_strdup(struct cfg_ctx *c, char **dst, const char *s)
{
	char *p = s != NULL ? strdup(s) : NULL;

	if (s != NULL && p == NULL)
		return cfg_fail(c, "out of memory");
	free(*dst);
	*dst = p;
	return 0;
}

int
config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon;
	size_t n;
	char *end;
	long p;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		n = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= hostlen)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || colon[1] == '\0' || p < 0 ||
	    p > 65535)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = (int)p;
	return 0;
}

int
config_host_is_loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
	       strncmp(host, "127.", 4) == 0;
}

static int
cfg_listen(struct cfg_ctx *c, const char *key, const char *v, char *host,
           size_t hostlen, int *port)
{
	if (config_split_hostport(v, host, hostlen, port) == -1)
		return cfg_fail(c,
		                "%s: \"%s\" is not ADDR:PORT (for example "
		                "127.0.0.1:8080 or [::1]:8080)",
		                key, v);
	return 0;
}

/* https://host[:port][/prefix] */
static int
cfg_upstream(struct cfg_ctx *c, const char *url)
{
	struct config *cfg = c->cfg;
	const char *p, *slash;
	char hostport[256];
	size_t n;

	if (strncmp(url, "https://", 8) != 0)
		return cfg_fail(
		    c,
		    "upstream: \"%s\" must start with https:// "
		    "(tollgate always speaks TLS to the upstream; use "
		    "upstream_ca_file for a private CA)",
		    url);
	p = url + 8;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (n == 0 || n >= sizeof(hostport))
		return cfg_fail(c, "upstream: \"%s\" has no host", url);
	memcpy(hostport, p, n);
	hostport[n] = '\0';
	cfg->upstream_port = 443;
	if (config_split_hostport(hostport, cfg->upstream_host,
	                          sizeof(cfg->upstream_host),
	                          &cfg->upstream_port) == -1) {
		if (strchr(hostport, ':') != NULL && hostport[0] != '[')
			return cfg_fail(c, "upstream: bad port in \"%s\"", url);
		snprintf(cfg->upstream_host, sizeof(cfg->upstream_host), "%s",
		         hostport);
	}
	snprintf(cfg->upstream_prefix, sizeof(cfg->upstream_prefix), "%s",
	         slash ? slash : "");
	n = strlen(cfg->upstream_prefix);
	while (n > 0 && cfg->upstream_prefix[n - 1] == '/')
		cfg->upstream_prefix[--n] = '\0';
	return cfg_strdup(c, &cfg->upstream, url);
}

/* --- JSON helpers ----------------------------------------------------- */

static int
j_str(struct cfg_ctx *c, const cJSON *v, const char *key, char **dst)
{
	if (cJSON_IsNull(v))
		return cfg_strdup(c, dst, NULL);
	if (!cJSON_IsString(v))
		return cfg_fail(c, "%s must be a string", key);
	return cfg_strdup(c, dst, v->valuestring);
}

static int
j_bool(struct cfg_ctx *c, const cJSON *v, const char *key, int *dst)
{
	if (!cJSON_IsBool(v))
		return cfg_fail(c, "%s must be true or false", key);
	*dst = cJSON_IsTrue(v);
	return 0;
}

static int
j_uint(struct cfg_ctx *c, const cJSON *v, const char *key, uint64_t max,
       uint64_t *dst)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble ||
	    (uint64_t)v->valuedouble > max)
		return cfg_fail(c, "%s must be a whole number from 0 to %llu",
		                key, (unsigned long long)max);
	*dst = (uint64_t)v->valuedouble;
	return 0;
}

static int
j_int(struct cfg_ctx *c, const cJSON *v, const char *key, int max, int *dst)
{
	uint64_t u = 0;

	if (j_uint(c, v, key, (uint64_t)max, &u) == -1)
		return -1;
	*dst = (int)u;
	return 0;
}

/* USD amounts: a JSON number or decimal string -> nano-USD. */
static int
j_usd(struct cfg_ctx *c, const cJSON *v, const char *key, uint64_t *dst)
{
	char buf[64];

	if (cJSON_IsNumber(v))
		snprintf(buf, sizeof(buf), "%.9f", v->valuedouble);
	else if (cJSON_IsString(v))
		snprintf(buf, sizeof(buf), "%s", v->valuestring);
	else
		return cfg_fail(c, "%s must be a USD amount like 5 or 12.50",
		                key);
	/* %.9f prints trailing zeros: trim to what parse_decimal takes. */
	if (meter_price_parse_decimal(buf, dst) == -1)
		return cfg_fail(c,
		                "%s: \"%s\" is not a USD amount with at "
		                "most 9 decimals",
		                key, buf);
	return 0;
}

static int
j_str_list(struct cfg_ctx *c, const cJSON *v, const char *key, char ***dst,
           size_t *n)
{
	const cJSON *it;
	size_t i = 0, count;

	if (!cJSON_IsArray(v) ||
	    (count = (size_t)cJSON_GetArraySize(v)) > CONFIG_MAX_HOSTS)
		return cfg_fail(c, "%s must be a list of at most %d strings",
		                key, CONFIG_MAX_HOSTS);
	*dst = calloc(count + 1, sizeof(char *));
	if (*dst == NULL)
		return cfg_fail(c, "out of memory");
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it))
			return cfg_fail(c, "%s must hold only strings", key);
		if (((*dst)[i++] = strdup(it->valuestring)) == NULL)
			return cfg_fail(c, "out of memory");
		*n = i;
	}
	return 0;
}

static void
free_list(char **l, size_t n)
{
	size_t i;

	for (i = 0; l != NULL && i < n; i++)
		free(l[i]);
	free(l);
}

/* --- limits and workspaces -------------------------------------------- */

static int
cfg_limits(struct cfg_ctx *c, const cJSON *o, const char *ws,
           struct meter_limits *l)
{
	const cJSON *it;
	char key[160];
	uint64_t u = 0;

	if (!cJSON_IsObject(o))
		return cfg_fail(c, "workspaces.%s.limits must be an object",
		                ws);
	cJSON_ArrayForEach(it, o)
	{
		snprintf(key, sizeof(key), "workspaces.%s.limits.%s", ws,
		         it->string);
		if (strcmp(it->string, "rpm") == 0) {
			if (j_uint(c, it, key, UINT32_MAX, &l->rpm) == -1)
				return -1;
		} else if (strcmp(it->string, "rpd") == 0) {
			if (j_uint(c, it, key, UINT32_MAX, &l->rpd) == -1)
				return -1;
		} else if (strcmp(it->string, "tpm") == 0) {
			if (j_uint(c, it, key, 1ULL << 40, &l->tpm) == -1)
				return -1;
		} else if (strcmp(it->string, "tpd") == 0) {
			if (j_uint(c, it, key, 1ULL << 40, &l->tpd) == -1)
				return -1;
		} else if (strcmp(it->string, "daily_usd") == 0) {
			if (j_usd(c, it, key, &l->daily_nanousd) == -1)
				return -1;
		} else if (strcmp(it->string, "monthly_usd") == 0) {
			if (j_usd(c, it, key, &l->monthly_nanousd) == -1)
				return -1;
		} else if (strcmp(it->string, "warn_pct") == 0 ||
		           strcmp(it->string, "critical_pct") == 0) {
			if (j_uint(c, it, key, 100, &u) == -1)
				return -1;
			*(it->string[0] == 'w' ? &l->warn_pct
			                       : &l->critical_pct) =
			    (unsigned)u;
		} else {
			return cfg_fail(
			    c,
			    "%s: unknown limit (known: rpm, rpd, "
			    "tpm, tpd, daily_usd, monthly_usd, warn_pct, "
			    "critical_pct)",
			    key);
		}
	}
	return 0;
}

int
config_valid_workspace_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= CONFIG_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("-_.", s[i]) == NULL)
			return 0;
	return 1;
}

static int
valid_key_hash(const char *s)
{
	size_t i;

	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
		return 0;
	for (i = 7; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
cfg_ws_keys(struct cfg_ctx *c, const cJSON *v, struct config_workspace *w)
{
	const cJSON *it;
	size_t n;

	if (!cJSON_IsArray(v) ||
	    (n = (size_t)cJSON_GetArraySize(v)) > CONFIG_MAX_KEYS)
		return cfg_fail(c,
		                "workspaces.%s.keys must be a list of at "
		                "most %d \"sha256:<hex>\" strings",
		                w->name, CONFIG_MAX_KEYS);
	if ((w->keys = calloc(n + 1, sizeof(*w->keys))) == NULL)
		return cfg_fail(c, "out of memory");
	cJSON_ArrayForEach(it, v)
	{
		size_t i;

		if (!cJSON_IsString(it) || !valid_key_hash(it->valuestring))
			return cfg_fail(
			    c,
			    "workspaces.%s.keys: each entry "
			    "must be \"sha256:\" and the 64 hex digits of the "
			    "key's SHA-256 (printf %%s \"$KEY\" | sha256sum)",
			    w->name);
		for (i = 0; it->valuestring[i] != '\0'; i++)
			w->keys[w->nkeys][i] =
			    (char)tolower((unsigned char)it->valuestring[i]);
		w->nkeys++;
	}
	return 0;
}

static int
cfg_ws_upstream_key(struct cfg_ctx *c, struct config_workspace *w)
{
	const char *v;

	if (w->upstream_key_env == NULL)
		return 0;
	v = getenv(w->upstream_key_env);
	if (v == NULL || v[0] == '\0')
		return cfg_fail(
		    c,
		    "workspaces.%s.upstream_key_env names %s, "
		    "which is not set in tollgate's environment (export it, "
		    "or remove upstream_key_env)",
		    w->name, w->upstream_key_env);
	return cfg_strdup(c, &w->upstream_key, v);
}

static int
cfg_workspace(struct cfg_ctx *c, const cJSON *o, struct config_workspace *w)
{
	const cJSON *it;

	if (!config_valid_workspace_name(o->string, strlen(o->string)))
		return cfg_fail(c,
		                "workspaces: \"%s\" is not a valid name "
		                "(1-%d of A-Z a-z 0-9 - _ .)",
		                o->string, CONFIG_NAME_MAX - 1);
	snprintf(w->name, sizeof(w->name), "%s", o->string);
	if (!cJSON_IsObject(o))
		return cfg_fail(c, "workspaces.%s must be an object", w->name);
	cJSON_ArrayForEach(it, o)
	{
		char key[160];
		int rc;

		snprintf(key, sizeof(key), "workspaces.%s.%s", w->name,
		         it->string);
		if (strcmp(it->string, "keys") == 0)
			rc = cfg_ws_keys(c, it, w);
		else if (strcmp(it->string, "upstream_key_env") == 0)
			rc = j_str(c, it, key, &w->upstream_key_env);
		else if (strcmp(it->string, "openai_project") == 0)
			rc = j_str(c, it, key, &w->openai_project);
		else if (strcmp(it->string, "limits") == 0)
			rc = cfg_limits(c, it, w->name, &w->limits);
		else
			rc = cfg_fail(
			    c,
			    "%s: unknown key (known: keys, "
			    "upstream_key_env, openai_project, limits)",
			    key);
		if (rc == -1)
			return -1;
	}
	return cfg_ws_upstream_key(c, w);
}

static void
limits_defaults(struct meter_limits *l)
{
	l->warn_pct = 80;
	l->critical_pct = 95;
}

static int
cfg_workspaces(struct cfg_ctx *c, const cJSON *v)
{
	struct config *cfg = c->cfg;
	const cJSON *it;
	size_t n, i;

	if (!cJSON_IsObject(v) ||
	    (n = (size_t)cJSON_GetArraySize(v)) > CONFIG_MAX_WORKSPACES)
		return cfg_fail(c,
		                "workspaces must be an object of at most "
		                "%d workspaces",
		                CONFIG_MAX_WORKSPACES);
	free(cfg->ws);
	if ((cfg->ws = calloc(n + 1, sizeof(*cfg->ws))) == NULL)
		return cfg_fail(c, "out of memory");
	snprintf(cfg->ws[0].name, sizeof(cfg->ws[0].name), "default");
	limits_defaults(&cfg->ws[0].limits);
	cfg->nws = 1;
	cJSON_ArrayForEach(it, v)
	{
		struct config_workspace *w = &cfg->ws[cfg->nws];

		if (strcmp(it->string, "default") == 0)
			w = &cfg->ws[0];
		else
			cfg->nws++;
		limits_defaults(&w->limits);
		if (cfg_workspace(c, it, w) == -1)
			return -1;
	}
	for (i = 0; i < cfg->nws; i++) {
		size_t j;

		for (j = i + 1; j < cfg->nws; j++)
			if (strcmp(cfg->ws[i].name, cfg->ws[j].name) == 0)
				return cfg_fail(c,
				                "workspaces: \"%s\" appears "
				                "twice",
				                cfg->ws[i].name);
	}
	return 0;
}

/* --- nested objects ----------------------------------------------------- */

static int
cfg_timeouts(struct cfg_ctx *c, const cJSON *o)
{
	static const struct {
		const char *name;
		size_t off;
	} keys[] = {
	    {"client_header_ms",
	     offsetof(struct config_timeouts, client_header_ms)},
	    {"client_idle_ms",
	     offsetof(struct config_timeouts, client_idle_ms)},
	    {"client_body_ms",
	     offsetof(struct config_timeouts, client_body_ms)},
	    {"upstream_connect_ms",
	     offsetof(struct config_timeouts, upstream_connect_ms)},
	    {"upstream_response_ms",
	     offsetof(struct config_timeouts, upstream_response_ms)},
	    {"drain_ms", offsetof(struct config_timeouts, drain_ms)},
	};
	const cJSON *it;
	size_t i;

	if (!cJSON_IsObject(o))
		return cfg_fail(c, "timeouts must be an object");
	cJSON_ArrayForEach(it, o)
	{
		char key[96];

		snprintf(key, sizeof(key), "timeouts.%s", it->string);
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(it->string, keys[i].name) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0]))
			return cfg_fail(
			    c,
			    "%s: unknown key (known: "
			    "client_header_ms, client_idle_ms, client_body_ms, "
			    "upstream_connect_ms, upstream_response_ms, "
			    "drain_ms)",
			    key);
		if (j_int(c, it, key, 24 * 3600 * 1000,
		          (int *)((char *)&c->cfg->timeouts + keys[i].off)) ==
		    -1)
			return -1;
		if (*(int *)((char *)&c->cfg->timeouts + keys[i].off) == 0)
			return cfg_fail(c, "%s must be at least 1", key);
	}
	return 0;
}

static int
cfg_reconcile(struct cfg_ctx *c, const cJSON *o)
{
	struct config *cfg = c->cfg;
	const cJSON *it;
	int rc;

	if (!cJSON_IsObject(o))
		return cfg_fail(c, "reconcile must be an object");
	cJSON_ArrayForEach(it, o)
	{
		char key[96];

		snprintf(key, sizeof(key), "reconcile.%s", it->string);
		if (strcmp(it->string, "admin_key_env") == 0)
			rc = j_str(c, it, key, &cfg->reconcile_admin_key_env);
		else if (strcmp(it->string, "base_url") == 0)
			rc = j_str(c, it, key, &cfg->reconcile_base_url);
		else if (strcmp(it->string, "interval_s") == 0)
			rc = j_int(c, it, key, 7 * 86400,
			           &cfg->reconcile_interval_s);
		else if (strcmp(it->string, "lookback_days") == 0)
			rc = j_int(c, it, key, 31,
			           &cfg->reconcile_lookback_days);
		else if (strcmp(it->string, "drift_alert_pct") == 0) {
			rc = cJSON_IsNumber(it) && it->valuedouble >= 0
			         ? 0
			         : cfg_fail(c, "%s must be a number >= 0", key);
			cfg->reconcile_drift_alert_pct = it->valuedouble;
		} else
			rc = cfg_fail(c,
			              "%s: unknown key (known: "
			              "admin_key_env, base_url, interval_s, "
			              "lookback_days, drift_alert_pct)",
			              key);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
cfg_alerts(struct cfg_ctx *c, const cJSON *o)
{
	const cJSON *it;

	if (!cJSON_IsObject(o))
		return cfg_fail(c, "alerts must be an object");
	cJSON_ArrayForEach(it, o)
	{
		if (strcmp(it->string, "webhook_url") != 0)
			return cfg_fail(c,
			                "alerts.%s: unknown key (known: "
			                "webhook_url)",
			                it->string);
		if (j_str(c, it, "alerts.webhook_url",
		          &c->cfg->alerts_webhook_url) == -1)
			return -1;
	}
	return 0;
}

static int
cfg_reports(struct cfg_ctx *c, const cJSON *o)
{
	struct config *cfg = c->cfg;
	const cJSON *it;
	int rc;

	if (!cJSON_IsObject(o))
		return cfg_fail(c, "reports must be an object");
	cJSON_ArrayForEach(it, o)
	{
		char key[96];

		snprintf(key, sizeof(key), "reports.%s", it->string);
		if (strcmp(it->string, "duplicate_window_s") == 0)
			rc = j_int(c, it, key, 86400,
			           &cfg->reports_duplicate_window_s);
		else if (strcmp(it->string, "prompt_bloat_tokens") == 0)
			rc = j_uint(c, it, key, 1 << 24,
			            &cfg->reports_prompt_bloat_tokens);
		else if (strcmp(it->string, "model_waste_output_tokens") == 0)
			rc = j_uint(c, it, key, 1 << 24,
			            &cfg->reports_model_waste_output_tokens);
		else if (strcmp(it->string, "intelligence_days") == 0) {
			rc = j_int(c, it, key, 366,
			           &cfg->reports_intelligence_days);
			if (rc == 0 && cfg->reports_intelligence_days == 0)
				rc = cfg_fail(c, "%s must be at least 1", key);
		} else
			rc = cfg_fail(c,
			              "%s: unknown key (known: "
			              "duplicate_window_s, prompt_bloat_tokens, "
			              "model_waste_output_tokens, "
			              "intelligence_days)",
			              key);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* --- top level ---------------------------------------------------------- */

static int
cfg_unpriced(struct cfg_ctx *c, const cJSON *v)
{
	if (cJSON_IsString(v) && strcmp(v->valuestring, "allow") == 0)
		c->cfg->unpriced_deny = 0;
	else if (cJSON_IsString(v) && strcmp(v->valuestring, "deny") == 0)
		c->cfg->unpriced_deny = 1;
	else
		return cfg_fail(c, "unpriced_model must be \"allow\" or "
		                   "\"deny\"");
	return 0;
}

static int
cfg_fixed_str(struct cfg_ctx *c, const cJSON *v, const char *key, char *dst,
              size_t cap)
{
	if (!cJSON_IsString(v) || strlen(v->valuestring) == 0 ||
	    strlen(v->valuestring) >= cap)
		return cfg_fail(c,
		                "%s must be a non-empty string shorter "
		                "than %zu bytes",
		                key, cap);
	memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

static int
cfg_top_key(struct cfg_ctx *c, const cJSON *it)
{
	struct config *cfg = c->cfg;
	const char *k = it->string;
	uint64_t u = 0;

	if (strcmp(k, "listen") == 0 || strcmp(k, "admin_listen") == 0) {
		int admin = k[0] == 'a';

		if (!cJSON_IsString(it))
			return cfg_fail(c, "%s must be a string", k);
		return cfg_listen(c, k, it->valuestring,
		                  admin ? cfg->admin_host : cfg->listen_host,
		                  sizeof(cfg->listen_host),
		                  admin ? &cfg->admin_port : &cfg->listen_port);
	}
	if (strcmp(k, "admin_token") == 0)
		return j_str(c, it, k, &cfg->admin_token);
	if (strcmp(k, "workers") == 0)
		return j_int(c, it, k, CONFIG_MAX_WORKERS, &cfg->workers);
	if (strcmp(k, "upstream") == 0)
		return cJSON_IsString(it) ? cfg_upstream(c, it->valuestring)
		                          : cfg_fail(c, "upstream must be a "
		                                        "string");
	if (strcmp(k, "upstream_ca_file") == 0)
		return j_str(c, it, k, &cfg->upstream_ca_file);
	if (strcmp(k, "data_dir") == 0)
		return j_str(c, it, k, &cfg->data_dir);
	if (strcmp(k, "db") == 0)
		return j_str(c, it, k, &cfg->db);
	if (strcmp(k, "ca_dir") == 0)
		return j_str(c, it, k, &cfg->ca_dir);
	if (strcmp(k, "pricing_file") == 0)
		return j_str(c, it, k, &cfg->pricing_file);
	if (strcmp(k, "unpriced_reserve_model") == 0) {
		if (!cJSON_IsString(it) || it->valuestring[0] == '\0')
			return cfg_fail(c, "unpriced_reserve_model must be a "
			                   "model name from the price table");
		return j_str(c, it, k, &cfg->unpriced_reserve_model);
	}
	if (strcmp(k, "intercept_hosts") == 0) {
		free_list(cfg->intercept_hosts, cfg->n_intercept);
		cfg->intercept_hosts = NULL;
		cfg->n_intercept = 0;
		return j_str_list(c, it, k, &cfg->intercept_hosts,
		                  &cfg->n_intercept);
	}
	if (strcmp(k, "tunnel_hosts") == 0) {
		free_list(cfg->tunnel_hosts, cfg->n_tunnel);
		cfg->tunnel_hosts = NULL;
		cfg->n_tunnel = 0;
		return j_str_list(c, it, k, &cfg->tunnel_hosts, &cfg->n_tunnel);
	}
	if (strcmp(k, "workspace_header") == 0)
		return cfg_fixed_str(c, it, k, cfg->workspace_header,
		                     sizeof(cfg->workspace_header));
	if (strcmp(k, "require_known_workspace") == 0)
		return j_bool(c, it, k, &cfg->require_known_workspace);
	if (strcmp(k, "require_proxy_auth") == 0)
		return j_bool(c, it, k, &cfg->require_proxy_auth);
	if (strcmp(k, "default_output_tokens") == 0)
		return j_uint(c, it, k, 1 << 24, &cfg->default_output_tokens);
	if (strcmp(k, "inject_stream_usage") == 0)
		return j_bool(c, it, k, &cfg->inject_stream_usage);
	if (strcmp(k, "max_buffered_bodies") == 0) {
		if (j_uint(c, it, k, 1ULL << 40, &cfg->max_buffered_bodies) ==
		    -1)
			return -1;
		return cfg->max_buffered_bodies > 0
		           ? 0
		           : cfg_fail(c,
		                      "max_buffered_bodies must be at least 1");
	}
	if (strcmp(k, "max_request_body") == 0) {
		if (j_uint(c, it, k, 1ULL << 31, &cfg->max_request_body) == -1)
			return -1;
		return cfg->max_request_body > 0
		           ? 0
		           : cfg_fail(c, "max_request_body must be at least 1");
	}
	if (strcmp(k, "store_queue") == 0) {
		if (j_uint(c, it, k, 1 << 22, &u) == -1 || u == 0)
			return cfg_fail(c, "store_queue must be 1 to %d",
			                1 << 22);
		cfg->store_queue = (size_t)u;
		return 0;
	}
	if (strcmp(k, "unpriced_model") == 0)
		return cfg_unpriced(c, it);
	if (strcmp(k, "workspaces") == 0)
		return cfg_workspaces(c, it);
	if (strcmp(k, "timeouts") == 0)
		return cfg_timeouts(c, it);
	if (strcmp(k, "reconcile") == 0)
		return cfg_reconcile(c, it);
	if (strcmp(k, "alerts") == 0)
		return cfg_alerts(c, it);
	if (strcmp(k, "reports") == 0)
		return cfg_reports(c, it);
	return cfg_fail(c,
	                "unknown key \"%s\" (see the configuration "
	                "reference in README.md)",
	                k);
}

/* --- environment, defaults, assembly ------------------------------------ */

static int
cfg_env_uint(struct cfg_ctx *c, const char *var, uint64_t max, uint64_t *dst)
{
	const char *v = getenv(var);
	char *end;
	unsigned long long u;

	if (v == NULL || v[0] == '\0')
		return 0;
	errno = 0;
	u = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || v[0] == '-' || u > max)
		return cfg_fail(c,
		                "environment %s=\"%s\" must be a whole "
		                "number from 0 to %llu",
		                var, v, (unsigned long long)max);
	*dst = u;
	return 0;
}

/* DESIGN.md "Limits": the default workspace's limits from the environment
 * (they win over the file, so a container can be tuned without one). */
static int
cfg_env_limits(struct cfg_ctx *c)
{
	struct meter_limits *l = &c->cfg->ws[0].limits;
	const char *budget = getenv("OPENAI_MONTHLY_BUDGET_USD");
	uint64_t warn = l->warn_pct, crit = l->critical_pct;

	if (cfg_env_uint(c, "OPENAI_RATE_LIMIT_PER_MINUTE", UINT32_MAX,
	                 &l->rpm) == -1 ||
	    cfg_env_uint(c, "OPENAI_RATE_LIMIT_PER_DAY", UINT32_MAX, &l->rpd) ==
	        -1 ||
	    cfg_env_uint(c, "OPENAI_TOKEN_LIMIT_PER_MINUTE", 1ULL << 40,
	                 &l->tpm) == -1 ||
	    cfg_env_uint(c, "OPENAI_DAILY_TOKEN_LIMIT", 1ULL << 40, &l->tpd) ==
	        -1 ||
	    cfg_env_uint(c, "OPENAI_WARNING_THRESHOLD_PERCENT", 100, &warn) ==
	        -1 ||
	    cfg_env_uint(c, "OPENAI_CRITICAL_THRESHOLD_PERCENT", 100, &crit) ==
	        -1)
		return -1;
	l->warn_pct = (unsigned)warn;
	l->critical_pct = (unsigned)crit;
	if (budget != NULL && budget[0] != '\0' &&
	    meter_price_parse_decimal(budget, &l->monthly_nanousd) == -1)
		return cfg_fail(c,
		                "environment OPENAI_MONTHLY_BUDGET_USD="
		                "\"%s\" must be a USD amount like 100 or 12.50",
		                budget);
	return 0;
}

static int
cfg_defaults(struct cfg_ctx *c)
{
	struct config *cfg = c->cfg;
	static const char *const tunnel_all[] = {"*"};
	static const char *const intercept[] = {"api.openai.com"};
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
	cfg->listen_port = 8080;
	snprintf(cfg->admin_host, sizeof(cfg->admin_host), "127.0.0.1");
	cfg->admin_port = 9090;
	cfg->workers = cores > 0 ? (int)cores : 1;
	snprintf(cfg->workspace_header, sizeof(cfg->workspace_header),
	         "X-Tollgate-Workspace");
	cfg->default_output_tokens = 1024;
	cfg->inject_stream_usage = 1;
	cfg->max_request_body = 33554432;
	cfg->max_buffered_bodies = 536870912; /* 512 MiB across connections */
	cfg->store_queue = 16384;
	cfg->timeouts = (struct config_timeouts){
	    .client_header_ms = 30000,
	    .client_idle_ms = 120000,
	    .client_body_ms = 60000,
	    .upstream_connect_ms = 10000,
	    .upstream_response_ms = 600000,
	    .drain_ms = 30000,
	};
	cfg->reconcile_interval_s = 900;
	cfg->reconcile_lookback_days = 3;
	cfg->reconcile_drift_alert_pct = 2.0;
	cfg->reports_duplicate_window_s = 300;
	cfg->reports_prompt_bloat_tokens = 8000;
	cfg->reports_model_waste_output_tokens = 256;
	cfg->reports_intelligence_days = 7;
	if ((cfg->intercept_hosts = calloc(2, sizeof(char *))) == NULL ||
	    (cfg->intercept_hosts[0] = strdup(intercept[0])) == NULL ||
	    (cfg->tunnel_hosts = calloc(2, sizeof(char *))) == NULL ||
	    (cfg->tunnel_hosts[0] = strdup(tunnel_all[0])) == NULL)
		return cfg_fail(c, "out of memory");
	cfg->n_intercept = cfg->n_tunnel = 1;
	if (cfg_strdup(c, &cfg->data_dir, "data") == -1 ||
	    cfg_strdup(c, &cfg->unpriced_reserve_model, "gpt-4o") == -1 ||
	    cfg_strdup(c, &cfg->reconcile_admin_key_env, "OPENAI_ADMIN_KEY") ==
	        -1 ||
	    cfg_upstream(c, "https://api.openai.com") == -1)
		return -1;
	if ((cfg->ws = calloc(1, sizeof(*cfg->ws))) == NULL)
		return cfg_fail(c, "out of memory");
	snprintf(cfg->ws[0].name, sizeof(cfg->ws[0].name), "default");
	limits_defaults(&cfg->ws[0].limits);
	cfg->nws = 1;
	return 0;
}

static char *
read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		         strerror(errno));
		return NULL;
	}
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f) || n > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
		         ferror(f) ? strerror(errno) : "larger than 16 MiB");
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int
cfg_file(struct cfg_ctx *c, const char *path)
{
	size_t len = 0;
	char *text = read_file(path, &len, c->err, c->errlen);
	cJSON *root;
	const cJSON *it;
	int rc = 0;

	if (text == NULL)
		return -1;
	if ((root = cJSON_ParseWithLength(text, len)) == NULL) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at != NULL && at >= text ? (size_t)(at - text) : 0;
		size_t line = 1, i;

		for (i = 0; i < off && i < len; i++)
			line += text[i] == '\n';
		free(text);
		return cfg_fail(c, "%s: not valid JSON (line %zu)", path, line);
	}
	if (!cJSON_IsObject(root))
		rc = cfg_fail(c, "%s: the top level must be a JSON object",
		              path);
	cJSON_ArrayForEach(it, root)
	{
		if (rc == 0 && cfg_top_key(c, it) == -1) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", c->err);
			cfg_fail(c, "%s: %s", path, msg);
			rc = -1;
		}
	}
	cJSON_Delete(root);
	free(text);
	return rc;
}

static int
cfg_overrides(struct cfg_ctx *c, const struct config_overrides *ov)
{
	struct config *cfg = c->cfg;

	if (ov == NULL)
		return 0;
	if (ov->listen != NULL &&
	    cfg_listen(c, "--listen", ov->listen, cfg->listen_host,
	               sizeof(cfg->listen_host), &cfg->listen_port) == -1)
		return -1;
	if (ov->admin_listen != NULL &&
	    cfg_listen(c, "--admin-listen", ov->admin_listen, cfg->admin_host,
	               sizeof(cfg->admin_host), &cfg->admin_port) == -1)
		return -1;
	if (ov->db != NULL && cfg_strdup(c, &cfg->db, ov->db) == -1)
		return -1;
	if (ov->upstream != NULL && cfg_upstream(c, ov->upstream) == -1)
		return -1;
	if (ov->workers > 0)
		cfg->workers = ov->workers;
	return 0;
}

static int
cfg_paths(struct cfg_ctx *c)
{
	struct config *cfg = c->cfg;
	char buf[4096];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->workers == 0)
		cfg->workers = cores > 0 ? (int)cores : 1;
	if (cfg->db == NULL) {
		snprintf(buf, sizeof(buf), "%s/tollgate.db", cfg->data_dir);
		if (cfg_strdup(c, &cfg->db, buf) == -1)
			return -1;
	}
	if (cfg->ca_dir == NULL &&
	    cfg_strdup(c, &cfg->ca_dir, cfg->data_dir) == -1)
		return -1;
	if (cfg->admin_token == NULL &&
	    !config_host_is_loopback(cfg->admin_host))
		return cfg_fail(
		    c,
		    "admin_listen %s is not a loopback address "
		    "and admin_token is not set: set admin_token, or listen "
		    "on 127.0.0.1",
		    cfg->admin_host);
	return 0;
}

struct config *
config_load(const char *path, const struct config_overrides *ov, char *err,
            size_t errlen)
{
	struct cfg_ctx c;
	struct config *cfg = calloc(1, sizeof(*cfg));

	c.cfg = cfg;
	c.err = err;
	c.errlen = errlen;
	err[0] = '\0';
	if (cfg == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (cfg_defaults(&c) == -1 ||
	    cfg_strdup(&c, &cfg->source, path ? path : "embedded defaults") ==
	        -1 ||
	    (path != NULL && cfg_file(&c, path) == -1) ||
	    cfg_env_limits(&c) == -1 || cfg_overrides(&c, ov) == -1 ||
	    cfg_paths(&c) == -1) {
		config_free(cfg);
		return NULL;
	}
	cfg->refs = 1;
	return cfg;
}

struct config *
config_hold(struct config *cfg)
{
	atomic_fetch_add(&cfg->refs, 1);
	return cfg;
}

void
config_release(struct config *cfg)
{
	if (cfg != NULL && atomic_fetch_sub(&cfg->refs, 1) == 1)
		config_free(cfg);
}

/* Appends name to the comma-separated list in changed. */
static void
note(char *changed, size_t cap, const char *name)
{
	size_t n = strlen(changed);

	snprintf(changed + n, cap - n, "%s%s", n ? ", " : "", name);
}

/* Replaces *dst (owned) with a copy of src; notes name when they differ. */
static int
keep_str(char **dst, const char *src, const char *name, char *changed,
         size_t cap)
{
	char *copy = NULL;

	if ((*dst == NULL) != (src == NULL) ||
	    (src != NULL && strcmp(*dst, src) != 0))
		note(changed, cap, name);
	if (src != NULL && (copy = strdup(src)) == NULL)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

int
config_keep_restart_only(struct config *neu, const struct config *old,
                         char *changed, size_t cap)
{
	changed[0] = '\0';
	/* a port of 0 ("any") was resolved at start: not a change */
	if (strcmp(neu->listen_host, old->listen_host) != 0 ||
	    (neu->listen_port != 0 && neu->listen_port != old->listen_port))
		note(changed, cap, "listen");
	if (strcmp(neu->admin_host, old->admin_host) != 0 ||
	    (neu->admin_port != 0 && neu->admin_port != old->admin_port))
		note(changed, cap, "admin_listen");
	if (neu->workers != old->workers)
		note(changed, cap, "workers");
	if (neu->store_queue != old->store_queue)
		note(changed, cap, "store_queue");
	memcpy(neu->listen_host, old->listen_host, sizeof(neu->listen_host));
	memcpy(neu->admin_host, old->admin_host, sizeof(neu->admin_host));
	memcpy(neu->upstream_host, old->upstream_host,
	       sizeof(neu->upstream_host));
	memcpy(neu->upstream_prefix, old->upstream_prefix,
	       sizeof(neu->upstream_prefix));
	neu->listen_port = old->listen_port;
	neu->admin_port = old->admin_port;
	neu->workers = old->workers;
	neu->store_queue = old->store_queue;
	neu->upstream_port = old->upstream_port;
	if (keep_str(&neu->upstream, old->upstream, "upstream", changed, cap) ==
	        -1 ||
	    keep_str(&neu->upstream_ca_file, old->upstream_ca_file,
	             "upstream_ca_file", changed, cap) == -1 ||
	    keep_str(&neu->data_dir, old->data_dir, "data_dir", changed, cap) ==
	        -1 ||
	    keep_str(&neu->db, old->db, "db", changed, cap) == -1 ||
	    keep_str(&neu->ca_dir, old->ca_dir, "ca_dir", changed, cap) == -1 ||
	    keep_str(&neu->pricing_file, old->pricing_file, "pricing_file",
	             changed, cap) == -1)
		return -1;
	return 0;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; cfg->ws != NULL && i < cfg->nws; i++) {
		free(cfg->ws[i].keys);
		free(cfg->ws[i].upstream_key_env);
		free(cfg->ws[i].upstream_key);
		free(cfg->ws[i].openai_project);
	}
	free(cfg->ws);
	free_list(cfg->intercept_hosts, cfg->n_intercept);
	free_list(cfg->tunnel_hosts, cfg->n_tunnel);
	free(cfg->source);
	free(cfg->admin_token);
	free(cfg->upstream);
	free(cfg->upstream_ca_file);
	free(cfg->data_dir);
	free(cfg->db);
	free(cfg->ca_dir);
	free(cfg->pricing_file);
	free(cfg->unpriced_reserve_model);
	free(cfg->reconcile_admin_key_env);
	free(cfg->reconcile_base_url);
	free(cfg->alerts_webhook_url);
	free(cfg);
}

const struct config_workspace *
config_workspace(const struct config *cfg, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < cfg->nws; i++)
		if (strlen(cfg->ws[i].name) == len &&
		    memcmp(cfg->ws[i].name, name, len) == 0)
			return &cfg->ws[i];
	return NULL;
}
