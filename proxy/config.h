/*
 * proxy/config.h — the frozen configuration snapshot.
 *
 * Built once from the embedded defaults, an optional JSON file (DESIGN.md
 * "Config file"), environment variables and command-line overrides, then
 * never modified: a reload builds a new snapshot.  Every key is checked;
 * an unknown key or a wrong type is refused with a message naming it.
 */
#ifndef PROXY_CONFIG_H
#define PROXY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "meter/limit.h"

#define CONFIG_MAX_WORKSPACES 4096
#define CONFIG_MAX_KEYS 1024 /* key hashes per workspace */
#define CONFIG_MAX_HOSTS 256 /* intercept_hosts / tunnel_hosts */
#define CONFIG_MAX_WORKERS 256
#define CONFIG_NAME_MAX 64 /* workspace name bytes */

struct config_workspace {
	char name[CONFIG_NAME_MAX];
	char (*keys)[72]; /* "sha256:<64 hex>" */
	size_t nkeys;
	char *upstream_key_env;
	char *upstream_key; /* resolved from the env at load */
	char *openai_project;
	struct meter_limits limits;
};

struct config_timeouts {
	int client_header_ms;     /* request head must arrive within */
	int client_idle_ms;       /* keep-alive wait for the next request */
	int client_body_ms;       /* gap between request body reads */
	int upstream_connect_ms;  /* TCP + TLS handshake */
	int upstream_response_ms; /* silence from the upstream */
	int drain_ms;             /* SIGTERM: in-flight requests may finish */
};

struct config {
	_Atomic int refs; /* config_hold / config_release */
	char *source;     /* file path, or "embedded defaults" */
	char listen_host[256];
	int listen_port;
	char admin_host[256];
	int admin_port;
	char *admin_token;
	int workers;    /* resolved: never 0 */
	char *upstream; /* https://host[:port][/prefix] */
	char upstream_host[256];
	int upstream_port;
	char upstream_prefix[256]; /* path prefix without trailing '/' */
	char *upstream_ca_file;
	char *data_dir;
	char *db;     /* resolved path */
	char *ca_dir; /* resolved path */
	char *pricing_file;
	char **intercept_hosts;
	size_t n_intercept;
	char **tunnel_hosts;
	size_t n_tunnel;
	char workspace_header[128];
	int require_known_workspace;
	int require_proxy_auth;
	uint64_t default_output_tokens;
	int inject_stream_usage;
	uint64_t max_request_body;
	uint64_t max_buffered_bodies; /* request bytes held at once, process */
	int unpriced_deny;            /* unpriced_model: "deny" */
	char *unpriced_reserve_model; /* reservations of unpriced models
	                                 are priced as this one */
	size_t store_queue;           /* store queue slots */
	struct config_timeouts timeouts;
	struct config_workspace *ws;
	size_t nws; /* ws[0] is always "default" */
	/* reconcile / alerts: validated here, used by later modules */
	char *reconcile_admin_key_env;
	char *reconcile_base_url;
	int reconcile_interval_s;
	int reconcile_lookback_days;
	double reconcile_drift_alert_pct;
	char *alerts_webhook_url;
	/* reports: the cost intelligence report (docs/admin-api.md) */
	int reports_duplicate_window_s;
	uint64_t reports_prompt_bloat_tokens;
	uint64_t reports_model_waste_output_tokens;
	int reports_intelligence_days;
};

/* Command-line overrides (NULL / 0 = not given). */
struct config_overrides {
	const char *listen;
	const char *admin_listen;
	const char *db;
	const char *upstream;
	int workers;
};

/*
 * Loads path (NULL: embedded defaults only), applies the environment and
 * overrides.  NULL with a message naming the problem and its fix in err.
 */
struct config *config_load(const char *path, const struct config_overrides *ov,
                           char *err, size_t errlen);
void config_free(struct config *cfg);

/* Snapshots are shared by reference (a reload swaps them while
 * connections keep theirs): config_load returns one reference; the last
 * release frees.  Thread-safe. */
struct config *config_hold(struct config *cfg);
void config_release(struct config *cfg);

/*
 * A reload cannot move listeners, threads, the database, the CA or the
 * upstream pool: copies those settings from the running snapshot into
 * the new one, and lists in changed (comma-separated, "" when none) the
 * ones the new file tried to change.  -1 on allocation failure.
 */
int config_keep_restart_only(struct config *neu, const struct config *old,
                             char *changed, size_t cap);

/* The workspace called name, or NULL. */
const struct config_workspace *config_workspace(const struct config *cfg,
                                                const char *name, size_t len);

/* Is s (n bytes) a valid workspace name: 1-63 of A-Z a-z 0-9 - _ . */
int config_valid_workspace_name(const char *s, size_t n);

/* Splits "host:port" / "[v6]:port"; -1 when malformed. */
int config_split_hostport(const char *s, char *host, size_t hostlen, int *port);

/* Is host a loopback address or "localhost"? */
int config_host_is_loopback(const char *host);

#endif
