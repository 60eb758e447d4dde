/*
 * proxy/reload.c — the running config snapshot and its SIGHUP reload.
 *
 * STYLE.md §5: a reload builds a new snapshot and swaps it; connections
 * keep the one they started with (a reference each) and the last one to
 * let go frees it.  Settings bound at start-up (listeners, threads, the
 * database, the CA, the upstream pool, the price table) keep their
 * running values; a file that changes them says so in the log.
 */
#include <stdio.h>

#include "proxy/account.h"
#include "proxy/alert.h"
#include "proxy/limiter.h"
#include "proxy/log.h"
#include "proxy/proxy.h"

struct config *
proxy_config_get(struct proxy *px)
{
	struct config *cfg;

	pthread_mutex_lock(&px->cfg_mu);
	cfg = config_hold(px->cfg);
	pthread_mutex_unlock(&px->cfg_mu);
	return cfg;
}

void
proxy_config_put(struct config *cfg)
{
	config_release(cfg);
}

int
proxy_reload(struct proxy *px, const char *path,
             const struct config_overrides *ov)
{
	struct config *neu, *old;
	char err[1024], changed[512];

	if ((neu = config_load(path, ov, err, sizeof(err))) == NULL) {
		log_err("SIGHUP: reload refused, the running config stays: %s",
		        err);
		return -1;
	}
	if (!proxy_account_priced(px, neu->unpriced_reserve_model)) {
		log_err("SIGHUP: reload refused, the running config stays: "
		        "unpriced_reserve_model \"%s\" has no price in the "
		        "table (name a priced model)",
		        neu->unpriced_reserve_model);
		config_release(neu);
		return -1;
	}
	if (config_keep_restart_only(neu, px->cfg, changed, sizeof(changed)) ==
	    -1) {
		log_err("SIGHUP: reload refused: out of memory");
		config_release(neu);
		return -1;
	}
	/* The running admin listener is what the token must guard. */
	if (neu->admin_token == NULL &&
	    !config_host_is_loopback(neu->admin_host)) {
		log_err(
		    "SIGHUP: reload refused, the running config stays: the "
		    "admin listener %s is not loopback and the new file has "
		    "no admin_token (set one, or restart on a loopback "
		    "admin_listen)",
		    neu->admin_host);
		config_release(neu);
		return -1;
	}
	if (changed[0] != '\0')
		log_warn("SIGHUP: %s changed in %s: that takes a restart; the "
		         "running value stays until then",
		         changed, neu->source);
	if (proxy_limiter_configure(px->limiter, neu) == -1)
		log_err("SIGHUP: the limiter table is full (%d workspaces "
		        "plus %d unknown names): the new workspaces that did "
		        "not fit are counted with \"default\" and its limits "
		        "until a restart",
		        CONFIG_MAX_WORKSPACES, PROXY_LIMITER_MAX_UNKNOWN);
	proxy_alerts_set_url(px->alerts, neu->alerts_webhook_url);
	pthread_mutex_lock(&px->cfg_mu);
	old = px->cfg;
	px->cfg = neu;
	pthread_mutex_unlock(&px->cfg_mu);
	config_release(old);
	log_info("SIGHUP: reloaded %s (%zu workspaces); open connections "
	         "finish on the config they started with",
	         neu->source, neu->nws);
	return 0;
}
