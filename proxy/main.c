/*
 * proxy/main.c — command line, start-up and shutdown.
 *
 * Main thread: parses the command, builds the one struct proxy (config,
 * prices, store, upstream TLS context, workers, admin), then runs a small
 * event loop of its own for signals: SIGTERM/SIGINT drain (stop accepting,
 * let in-flight requests finish until timeouts.drain_ms, flush the store)
 * and exit 0; a second signal cuts the drain short.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <inttypes.h>
#include <libgen.h>
#include <openssl/opensslv.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "certs/certs.h"
#include "meter/price.h"
#include "proxy/account.h"
#include "proxy/admin.h"
#include "proxy/alert.h"
#include "proxy/background.h"
#include "proxy/config.h"
#include "proxy/limiter.h"
#include "proxy/log.h"
#include "proxy/proxy.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"
#include "proxy/events.h"
#include "proxy/reconciler.h"
#include "proxy/report_cli.h"
#include "store/store.h"

#define TOLLGATE_VERSION "0.1.0"
#define MAIN_DRAIN_POLL_MS 50
#define MAIN_STATS_MS 10000

static const char usage_text[] =
    "usage:\n"
    "  tollgate [run] [-c FILE] [--listen ADDR:PORT] [--admin-listen "
    "ADDR:PORT]\n"
    "                 [--db PATH] [--upstream URL] [--workers N] [-v]\n"
    "  tollgate check-config -c FILE\n"
    "  tollgate version\n"
    "  tollgate ca init [--dir DIR] [--force]\n"
    "  tollgate report [--db PATH] [--since YYYY-MM-DD] [--until YYYY-MM-DD]\n"
    "                  [--by workspace,model,day,endpoint] [--format "
    "table|csv|json]\n"
    "  tollgate reconcile --once [-c FILE]\n"
    "\n"
    "With no -c, the embedded defaults serve: proxy on 127.0.0.1:8080, admin "
    "on\n"
    "127.0.0.1:9090, upstream https://api.openai.com, state in ./data/.\n"
    "Point an application at it with OPENAI_BASE_URL=http://127.0.0.1:8080/v1\n"
    "and read what it spent in data/tollgate.db (table requests).\n"
    "Signals: SIGTERM/SIGINT drain and stop; SIGHUP reloads the -c file\n"
    "(limits, workspaces, keys; a file that does not load is refused).\n"
    "\n"
    "  -c FILE               JSON config file (see README.md, Configuration)\n"
    "  --listen ADDR:PORT    proxy listener (overrides \"listen\")\n"
    "  --admin-listen ADDR:PORT  admin listener (overrides \"admin_listen\")\n"
    "  --db PATH             SQLite database (overrides \"db\")\n"
    "  --upstream URL        https:// upstream (overrides \"upstream\")\n"
    "  --workers N           proxy worker threads (default: one per core)\n"
    "  -v                    debug logging\n"
    "  --dir DIR, --force    (ca init) where to write the CA; replace one\n";

struct main_state {
	struct proxy *px;
	const struct cli *cli;
	struct event_base *base;
	int draining;
	int64_t drain_deadline_ms;
	struct event *poll;
	struct store_stats last;
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tollgate: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n%s", usage_text);
	return 2;
}

struct cli {
	const char *cmd;
	const char *sub;    /* "init" for "ca init" */
	const char *ca_dir; /* --dir */
	int force;
	const char *config;
	struct config_overrides ov;
	int verbose;
};

static int
parse_cli(int argc, char **argv, struct cli *cli)
{
	int i = 1;

	memset(cli, 0, sizeof(*cli));
	cli->cmd = "run";
	if (argc > 1 && argv[1][0] != '-')
		cli->cmd = argv[i++];
	if (strcmp(cli->cmd, "ca") == 0 && i < argc && argv[i][0] != '-')
		cli->sub = argv[i++];
	for (; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			cli->cmd = "help";
			return 0;
		}
		if (strcmp(a, "-v") == 0) {
			cli->verbose = 1;
			continue;
		}
		if (strcmp(a, "--force") == 0) {
			cli->force = 1;
			continue;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
			slot = &cli->config;
		else if (strcmp(a, "--listen") == 0)
			slot = &cli->ov.listen;
		else if (strcmp(a, "--admin-listen") == 0)
			slot = &cli->ov.admin_listen;
		else if (strcmp(a, "--db") == 0)
			slot = &cli->ov.db;
		else if (strcmp(a, "--upstream") == 0)
			slot = &cli->ov.upstream;
		else if (strcmp(a, "--dir") == 0)
			slot = &cli->ca_dir;
		else if (strcmp(a, "--workers") == 0) {
			char *end;
			long n;

			if (i + 1 >= argc)
				return usage_error("%s needs a value", a);
			n = strtol(argv[++i], &end, 10);
			if (*end != '\0' || n < 1 || n > CONFIG_MAX_WORKERS)
				return usage_error(
				    "--workers must be 1 to 256, "
				    "not \"%s\"",
				    argv[i]);
			cli->ov.workers = (int)n;
			continue;
		} else
			return usage_error("unknown option \"%s\"", a);
		if (i + 1 >= argc)
			return usage_error("%s needs a value", a);
		*slot = argv[++i];
	}
	return 0;
}

/* mkdir -p of the directory holding path. */
static int
ensure_parent_dir(const char *path, char *err, size_t errlen)
{
	char buf[4096], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	p = dirname(buf);
	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0750) == -1 && errno != EEXIST)
			goto fail;
		*s = '/';
	}
	if (mkdir(p, 0750) == -1 && errno != EEXIST)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot create directory %s: %s", p,
	         strerror(errno));
	return -1;
}

/* Reservations of unpriced models are priced as unpriced_reserve_model:
 * it must have a price. */
static struct meter_prices *
check_reserve_model(const struct config *cfg, struct meter_prices *p, char *err,
                    size_t errlen)
{
	struct meter_usage u;
	struct meter_cost c;

	memset(&u, 0, sizeof(u));
	if (p == NULL || meter_prices_cost(p, cfg->unpriced_reserve_model, NULL,
	                                   &u, &c) == 0)
		return p;
	snprintf(err, errlen,
	         "unpriced_reserve_model \"%s\" has no price in the price "
	         "table (name a priced model, e.g. \"gpt-4o\")",
	         cfg->unpriced_reserve_model);
	meter_prices_free(p);
	return NULL;
}

static struct meter_prices *load_prices_file(const struct config *cfg,
                                             char *err, size_t errlen);

static struct meter_prices *
load_prices(const struct config *cfg, char *err, size_t errlen)
{
	return check_reserve_model(cfg, load_prices_file(cfg, err, errlen), err,
	                           errlen);
}

static struct meter_prices *
load_prices_file(const struct config *cfg, char *err, size_t errlen)
{
	struct meter_prices *p;
	char inner[512];
	FILE *f;
	char *text;
	size_t n;

	if (cfg->pricing_file == NULL)
		return meter_prices_load_builtin(err, errlen);
	if ((f = fopen(cfg->pricing_file, "rb")) == NULL) {
		snprintf(err, errlen, "pricing_file %s: %s", cfg->pricing_file,
		         strerror(errno));
		return NULL;
	}
	text = malloc(8 << 20);
	n = text ? fread(text, 1, 8 << 20, f) : 0;
	fclose(f);
	if (text == NULL || n == 8 << 20) {
		snprintf(err, errlen, "pricing_file %s: %s", cfg->pricing_file,
		         text ? "larger than 8 MiB" : "out of memory");
		free(text);
		return NULL;
	}
	p = meter_prices_load(text, n, inner, sizeof(inner));
	free(text);
	if (p == NULL)
		snprintf(err, errlen, "pricing_file %s: %s", cfg->pricing_file,
		         inner);
	return p;
}

static int
cmd_check_config(const struct cli *cli)
{
	char err[1024];
	struct config *cfg;
	struct meter_prices *p;

	if (cli->config == NULL) {
		fprintf(stderr, "tollgate check-config: give the file with -c "
		                "FILE\n");
		return 2;
	}
	if ((cfg = config_load(cli->config, &cli->ov, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "tollgate: %s\n", err);
		return 1;
	}
	if ((p = load_prices(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tollgate: %s\n", err);
		config_free(cfg);
		return 1;
	}
	printf("%s: ok (%zu workspaces, %zu priced models, prices %s)\n",
	       cli->config, cfg->nws, meter_prices_count(p),
	       meter_prices_version(p));
	meter_prices_free(p);
	config_free(cfg);
	return 0;
}

/*
 * The interception CA: created on first start (one log line), else loaded;
 * a key readable by group or others stops start-up (certs_ca_load says
 * how to fix it).
 */
static struct certs_ca *
load_or_create_ca(const struct config *cfg, char *err, size_t errlen)
{
	char inner[768];
	struct certs_ca *ca;

	if (!certs_ca_exists(cfg->ca_dir)) {
		if (certs_ca_init(cfg->ca_dir, 0, inner, sizeof(inner)) == -1) {
			snprintf(err, errlen, "creating the CA: %s", inner);
			return NULL;
		}
		log_info("created the interception CA %s/ca.crt (trust it in "
		         "clients that use tollgate as HTTPS_PROXY; see "
		         "tollgate ca init)",
		         cfg->ca_dir);
	}
	if ((ca = certs_ca_load(cfg->ca_dir, inner, sizeof(inner))) == NULL)
		snprintf(err, errlen, "loading the CA: %s", inner);
	return ca;
}

/* tollgate ca init: the CA for forward-proxy interception. */
static int
cmd_ca(const struct cli *cli)
{
	char err[1024];
	struct config *cfg = NULL;
	const char *dir = cli->ca_dir;

	if (cli->sub == NULL || strcmp(cli->sub, "init") != 0)
		return usage_error("\"ca\" takes \"init\": tollgate ca init "
		                   "[--dir DIR] [--force]");
	if (dir == NULL) {
		if ((cfg = config_load(cli->config, &cli->ov, err,
		                       sizeof(err))) == NULL) {
			fprintf(stderr, "tollgate: %s\n", err);
			return 1;
		}
		dir = cfg->ca_dir;
	}
	if (certs_ca_init(dir, cli->force, err, sizeof(err)) == -1) {
		fprintf(stderr, "tollgate: %s\n", err);
		config_free(cfg);
		return 1;
	}
	printf("wrote %s/ca.crt and %s/ca.key (mode 0600, keep it secret)\n\n"
	       "Trust the CA where clients run:\n"
	       "  system store: cp %s/ca.crt "
	       "/usr/local/share/ca-certificates/tollgate.crt && "
	       "update-ca-certificates\n"
	       "  OpenSSL/Python: export SSL_CERT_FILE=%s/ca.crt   "
	       "(requests: REQUESTS_CA_BUNDLE)\n"
	       "  Node: export NODE_EXTRA_CA_CERTS=%s/ca.crt\n"
	       "  curl: curl --cacert %s/ca.crt -x http://127.0.0.1:8080 ...\n"
	       "(Forward-proxy interception itself is not built yet; see "
	       "README.md, Status.)\n",
	       dir, dir, dir, dir, dir, dir);
	config_free(cfg);
	return 0;
}

/* --- running ------------------------------------------------------------- */

static int
all_idle(struct proxy *px)
{
	int i;

	for (i = 0; i < px->nworkers; i++)
		if (proxy_worker_nconns(px->workers[i]) > 0)
			return 0;
	return 1;
}

static void
log_store_trouble(struct main_state *ms)
{
	struct store_stats s;

	store_stats(ms->px->store, &s);
	if (s.failures != ms->last.failures)
		log_err("store: %" PRIu64 " failed transaction(s), retrying: "
		        "%s",
		        s.failures - ms->last.failures, s.last_error);
	if (s.refused != ms->last.refused)
		log_err("store: queue full (%zu slots); %" PRIu64 " request(s) "
		        "refused with 503",
		        s.capacity, s.refused - ms->last.refused);
	ms->last = s;
}

static void
main_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *ms = arg;
	struct timeval tv = {0, MAIN_DRAIN_POLL_MS * 1000};
	int i;

	if (!ms->draining) {
		log_store_trouble(ms);
		tv.tv_sec = MAIN_STATS_MS / 1000;
		tv.tv_usec = 0;
	} else if (all_idle(ms->px)) {
		event_base_loopexit(ms->base, NULL);
		return;
	} else if (proxy_now_ms() >= ms->drain_deadline_ms) {
		log_warn(
		    "drain deadline passed: cutting off the requests "
		    "still in flight (their usage is recorded as estimated)");
		for (i = 0; i < ms->px->nworkers; i++)
			proxy_worker_stop(ms->px->workers[i]);
		event_base_loopexit(ms->base, NULL);
		return;
	}
	evtimer_add(ms->poll, &tv);
}

static void
main_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *ms = arg;
	int i;

	if (sig == SIGHUP) {
		proxy_reload(ms->px, ms->cli->config, &ms->cli->ov);
		return;
	}
	if (ms->draining) {
		log_warn("second signal: stopping now");
		ms->drain_deadline_ms = 0;
		return;
	}
	log_info("%s: draining (no new connections; in-flight requests may "
	         "finish within %d ms)",
	         sig == SIGTERM ? "SIGTERM" : "SIGINT",
	         ms->px->cfg->timeouts.drain_ms);
	ms->draining = 1;
	ms->drain_deadline_ms = proxy_now_ms() + ms->px->cfg->timeouts.drain_ms;
	for (i = 0; i < ms->px->nworkers; i++)
		proxy_worker_drain(ms->px->workers[i]);
	event_del(ms->poll);
	main_on_poll(-1, 0, ms);
}

static int
start_workers(struct proxy *px, struct config *cfg, char *err, size_t errlen)
{
	int i;

	if ((px->workers =
	         calloc((size_t)cfg->workers, sizeof(*px->workers))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < cfg->workers; i++) {
		if ((px->workers[i] = proxy_worker_new(px, i, err, errlen)) ==
		    NULL)
			return -1;
		px->nworkers++;
		/* --listen :0 asks for any port: every worker shares the
		 * one the first got. */
		if (i == 0 && cfg->listen_port == 0)
			cfg->listen_port = proxy_worker_port(px->workers[0]);
	}
	return 0;
}

static void
warn_open_proxy(const struct config *cfg)
{
	size_t i;

	if (config_host_is_loopback(cfg->listen_host) ||
	    cfg->require_proxy_auth)
		return;
	for (i = 0; i < cfg->n_tunnel; i++)
		if (strcmp(cfg->tunnel_hosts[i], "*") == 0)
			log_warn(
			    "listen %s is not loopback, tunnel_hosts is "
			    "[\"*\"] and require_proxy_auth is off: anyone who "
			    "can reach this port can use tollgate as an open "
			    "proxy",
			    cfg->listen_host);
}

/* The alert thread and the limiter, rebuilt from the database. */
static int
start_limits(struct proxy *px, char *err, size_t errlen)
{
	const struct config *cfg = px->cfg;
	char inner[512];

	if ((px->alerts = proxy_alerts_start(cfg->alerts_webhook_url,
	                                     cfg->upstream_ca_file, inner,
	                                     sizeof(inner))) == NULL) {
		snprintf(err, errlen, "alerts: %s", inner);
		return -1;
	}
	if ((px->limiter = proxy_limiter_new(cfg, px->alerts)) == NULL) {
		snprintf(err, errlen, "limiter: out of memory");
		return -1;
	}
	if (proxy_limiter_rebuild(px->limiter, cfg->db, proxy_now_ms(), inner,
	                          sizeof(inner)) == -1) {
		snprintf(err, errlen,
		         "cannot rebuild limits and budgets from %s: %s",
		         cfg->db, inner);
		return -1;
	}
	if ((px->background = proxy_background_new()) == NULL ||
	    proxy_background_load(px->background, cfg->db, inner,
	                          sizeof(inner)) == -1) {
		snprintf(err, errlen,
		         "cannot load pending background responses from %s: %s",
		         cfg->db, px->background ? inner : "out of memory");
		return -1;
	}
	return 0;
}

static void
teardown(struct proxy *px, struct proxy_admin *ad)
{
	uint64_t lost;
	int i;

	for (i = 0; i < px->nworkers; i++)
		proxy_worker_free(px->workers[i]);
	free(px->workers);
	proxy_reconciler_stop(px->reconciler);
	px->reconciler = NULL;
	proxy_admin_stop(ad);
	proxy_events_free(px->events);
	px->events = NULL;
	proxy_limiter_free(px->limiter);
	px->limiter = NULL;
	proxy_background_free(px->background);
	px->background = NULL;
	proxy_alerts_stop(px->alerts);
	px->alerts = NULL;
	/* Commits what is queued; only rows that kept failing are lost. */
	if ((lost = store_close(px->store)) > 0)
		log_err("store: %" PRIu64 " row(s) could not be written before "
		        "exit",
		        lost);
	px->store = NULL;
	SSL_CTX_free(px->upstream_ctx);
	certs_ca_free(px->ca);
	meter_prices_free(px->prices);
}

static int
cmd_run(const struct cli *cli)
{
	struct proxy px;
	struct config *cfg;
	struct proxy_admin *ad = NULL;
	struct main_state ms;
	struct event *sigs[3] = {NULL, NULL, NULL};
	const int signo[3] = {SIGTERM, SIGINT, SIGHUP};
	sigset_t block, old;
	char err[1024];
	int i, rc = 1;

	memset(&px, 0, sizeof(px));
	memset(&ms, 0, sizeof(ms));
	proxy_metrics_init(&px.metrics);
	evthread_use_pthreads();
	signal(SIGPIPE, SIG_IGN);
	if ((cfg = config_load(cli->config, &cli->ov, err, sizeof(err))) ==
	    NULL) {
		log_err("%s", err);
		return 1;
	}
	px.cfg = cfg;
	px.boot_cfg = config_hold(cfg);
	pthread_mutex_init(&px.cfg_mu, NULL);
	/* Workers inherit a mask without these; the main loop takes them. */
	sigemptyset(&block);
	for (i = 0; i < 3; i++)
		sigaddset(&block, signo[i]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if ((px.prices = load_prices(cfg, err, sizeof(err))) == NULL ||
	    ensure_parent_dir(cfg->db, err, sizeof(err)) == -1 ||
	    (px.ca = load_or_create_ca(cfg, err, sizeof(err))) == NULL ||
	    (px.store = store_open(cfg->db, cfg->store_queue, err,
	                           sizeof(err))) == NULL ||
	    (px.upstream_ctx = proxy_upstream_ctx_new(cfg, err, sizeof(err))) ==
	        NULL ||
	    start_limits(&px, err, sizeof(err)) == -1 ||
	    (px.events = proxy_events_new()) == NULL ||
	    start_workers(&px, cfg, err, sizeof(err)) == -1 ||
	    (ad = proxy_admin_start(&px, err, sizeof(err))) == NULL ||
	    (px.reconciler = proxy_reconciler_start(&px, err, sizeof(err))) ==
	        NULL) {
		log_err("%s", err);
		goto out;
	}
	for (i = 0; i < px.nworkers; i++)
		if (proxy_worker_start(px.workers[i]) == -1) {
			log_err("cannot start worker thread %d", i);
			goto out;
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ms.px = &px;
	ms.cli = cli;
	if ((ms.base = event_base_new()) == NULL ||
	    (ms.poll = evtimer_new(ms.base, main_on_poll, &ms)) == NULL)
		goto out;
	for (i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(ms.base, signo[i], main_on_signal, &ms);
		evsignal_add(sigs[i], NULL);
	}
	log_info(
	    "tollgate %s: listening on %s:%d (%d workers), admin on "
	    "%s:%d, upstream %s, database %s, prices %s (%zu models), config "
	    "%s",
	    TOLLGATE_VERSION, cfg->listen_host, cfg->listen_port, px.nworkers,
	    cfg->admin_host, cfg->admin_port, cfg->upstream, cfg->db,
	    meter_prices_version(px.prices), meter_prices_count(px.prices),
	    cfg->source);
	warn_open_proxy(cfg);
	main_on_poll(-1, 0, &ms);
	event_base_dispatch(ms.base);
	rc = 0;
out:
	if (rc != 0)
		for (i = 0; i < px.nworkers; i++)
			proxy_worker_stop(px.workers[i]);
	teardown(&px, ad);
	for (i = 0; i < 3; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	if (ms.poll != NULL)
		event_free(ms.poll);
	if (ms.base != NULL)
		event_base_free(ms.base);
	if (rc == 0)
		log_info("tollgate stopped");
	config_release(px.cfg);
	config_release(px.boot_cfg);
	pthread_mutex_destroy(&px.cfg_mu);
	proxy_metrics_destroy(&px.metrics);
	libevent_global_shutdown();
	return rc;
}

int
main(int argc, char **argv)
{
	struct cli cli;
	int rc;

	/* These two parse their own options. */
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return proxy_report_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "reconcile") == 0)
		return proxy_reconcile_main(argc - 1, argv + 1);
	if ((rc = parse_cli(argc, argv, &cli)) != 0)
		return rc;
	if (cli.verbose)
		log_set_level(LOG_DEBUG);
	if (strcmp(cli.cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(cli.cmd, "version") == 0) {
		printf("tollgate %s (libevent %s, %s, SQLite %s)\n",
		       TOLLGATE_VERSION, event_get_version(),
		       OPENSSL_VERSION_TEXT, sqlite3_libversion());
		return 0;
	}
	if (strcmp(cli.cmd, "run") == 0)
		return cmd_run(&cli);
	if (strcmp(cli.cmd, "check-config") == 0)
		return cmd_check_config(&cli);
	if (strcmp(cli.cmd, "ca") == 0)
		return cmd_ca(&cli);
	return usage_error("unknown command \"%s\"", cli.cmd);
}
