/*
 * proxy/report_cli.c — `tollgate report` (see report_cli.h), and the usage
 * report's CSV and JSON writers that the admin API shares.
 *
 * The command runs on the main thread of its own short-lived process: it
 * opens the database read-only (never creating it), runs one query from
 * store/report.c and prints.  The writers run on whichever thread calls
 * them and own nothing beyond the call.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "proxy/config.h"
#include "proxy/reply.h"
#include "proxy/report_cli.h"

#define REPORT_DEFAULT_DB "data/tollgate.db"
#define REPORT_KEY_MAX 128 /* bytes kept of one group key (model names) */

/* --- shared writers ------------------------------------------------------ */

void
proxy_report_usd(struct evbuffer *b, const char *key, uint64_t nano)
{
	if (key != NULL)
		evbuffer_add_printf(b, "\"%s\":", key);
	evbuffer_add_printf(b, "%" PRIu64 ".%09" PRIu64, nano / 1000000000,
	                    nano % 1000000000);
}

static void
json_totals(struct evbuffer *b, const struct store_report_totals *t)
{
	evbuffer_add_printf(
	    b,
	    "\"requests\":%" PRIu64 ",\"input_tokens\":%" PRIu64
	    ",\"cached_input_tokens\":%" PRIu64 ",\"output_tokens\":%" PRIu64
	    ",\"reasoning_tokens\":%" PRIu64 ",\"total_tokens\":%" PRIu64 ",",
	    t->requests, t->input_tokens, t->cached_input_tokens,
	    t->output_tokens, t->reasoning_tokens,
	    t->input_tokens + t->output_tokens);
	proxy_report_usd(b, "cost", t->cost_nanousd);
}

/* RFC 4180 §2: a field holding a comma, quote or line break is quoted,
 * with its quotes doubled. */
static void
csv_field(struct evbuffer *b, const char *s)
{
	const char *p;

	if (strpbrk(s, ",\"\r\n") == NULL) {
		evbuffer_add(b, s, strlen(s));
		return;
	}
	evbuffer_add(b, "\"", 1);
	for (p = s; *p != '\0'; p++) {
		if (*p == '"')
			evbuffer_add(b, "\"", 1);
		evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void
csv_totals(struct evbuffer *b, const struct store_report_totals *t)
{
	evbuffer_add_printf(b,
	                    "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
	                    ",%" PRIu64 ",%" PRIu64 ",",
	                    t->requests, t->input_tokens,
	                    t->cached_input_tokens, t->output_tokens,
	                    t->reasoning_tokens,
	                    t->input_tokens + t->output_tokens);
	proxy_report_usd(b, NULL, t->cost_nanousd);
	evbuffer_add(b, "\r\n", 2);
}

struct usage_out {
	struct evbuffer *b;
	const enum store_report_key *by;
	size_t nrows;
	int csv;
};

static void
usage_row(void *arg, const struct store_report_row *r)
{
	struct usage_out *o = arg;
	size_t i;

	if (o->csv) {
		for (i = 0; i < r->nkeys; i++) {
			csv_field(o->b, r->key[i]);
			evbuffer_add(o->b, ",", 1);
		}
		csv_totals(o->b, &r->t);
		return;
	}
	evbuffer_add_printf(o->b, "%s{", o->nrows++ > 0 ? "," : "");
	for (i = 0; i < r->nkeys; i++) {
		evbuffer_add_printf(o->b,
		                    "\"%s\":", store_report_key_name(o->by[i]));
		proxy_reply_json_string(o->b, r->key[i]);
		evbuffer_add(o->b, ",", 1);
	}
	json_totals(o->b, &r->t);
	evbuffer_add(o->b, "}", 1);
}

static void
json_opt_string(struct evbuffer *b, const char *s)
{
	if (s == NULL)
		evbuffer_add_printf(b, "null");
	else
		proxy_reply_json_string(b, s);
}

static void
usage_head(struct evbuffer *b, const struct store_report_filter *f,
           const enum store_report_key *by, size_t nby, int csv)
{
	size_t i;

	if (csv) {
		for (i = 0; i < nby; i++)
			evbuffer_add_printf(b, "%s,",
			                    store_report_key_name(by[i]));
		evbuffer_add_printf(b,
		                    "requests,input_tokens,"
		                    "cached_input_tokens,output_tokens,"
		                    "reasoning_tokens,total_tokens,cost\r\n");
		return;
	}
	evbuffer_add_printf(b, "{\"from\":");
	json_opt_string(b, f->from_day);
	evbuffer_add_printf(b, ",\"to\":");
	json_opt_string(b, f->to_day);
	evbuffer_add_printf(b, ",\"workspace\":");
	json_opt_string(b, f->workspace);
	evbuffer_add_printf(b, ",\"group_by\":[");
	for (i = 0; i < nby; i++)
		evbuffer_add_printf(b, "%s\"%s\"", i > 0 ? "," : "",
		                    store_report_key_name(by[i]));
	evbuffer_add_printf(b, "],\"rows\":[");
}

int
proxy_report_usage(struct evbuffer *b, struct store_reader *rd,
                   const struct store_report_filter *f,
                   const enum store_report_key *by, size_t nby, int csv,
                   int *truncated, char *err, size_t errlen)
{
	struct usage_out o = {b, by, 0, csv};
	struct store_report_totals t;

	usage_head(b, f, by, nby, csv);
	if (store_report_usage(rd, f, by, nby, PROXY_REPORT_MAX_ROWS, usage_row,
	                       &o, truncated, err, errlen) == -1)
		return -1;
	if (csv)
		return 0;
	if (store_report_totals(rd, f, &t, err, errlen) == -1)
		return -1;
	evbuffer_add_printf(b, "],\"totals\":{");
	json_totals(b, &t);
	evbuffer_add_printf(b, "},\"truncated\":%s}\n",
	                    *truncated ? "true" : "false");
	return 0;
}

/* --- the command -------------------------------------------------------------
 */

static const char report_usage_text[] =
    "usage: tollgate report [--db PATH | -c FILE] [--since YYYY-MM-DD]\n"
    "                       [--until YYYY-MM-DD] [--workspace NAME]\n"
    "                       [--by workspace,model,day,endpoint]\n"
    "                       [--format table|csv|json]\n"
    "\n"
    "Spend and tokens of the requests that reached the upstream, grouped\n"
    "by the --by columns (default workspace), from the usage database\n"
    "opened read-only (safe while the proxy runs).  --since and --until\n"
    "are UTC days, inclusive; they default to the first of this month\n"
    "and today.  --db defaults to " REPORT_DEFAULT_DB
    "; -c takes \"db\" from a\n"
    "config file.  Exit status: 0, 1 (database), 2 (usage).\n";

struct report_opts {
	const char *db, *config, *since, *until, *by, *format, *workspace;
	char since_buf[11], until_buf[11];
	enum store_report_key keys[STORE_REPORT_MAX_KEYS];
	size_t nkeys;
	int help;
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tollgate report: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(tollgate report --help shows the options)\n");
	return 2;
}

/* Points *dst at the value of option argv[*i]; -1 when it has none. */
static int
opt_value(int argc, char **argv, int *i, const char **dst)
{
	if (*i + 1 >= argc)
		return -1;
	*dst = argv[++*i];
	return 0;
}

static int
parse_args(int argc, char **argv, struct report_opts *o)
{
	static const struct {
		const char *name;
		size_t off;
	} opts[] = {
	    {"--db", offsetof(struct report_opts, db)},
	    {"-c", offsetof(struct report_opts, config)},
	    {"--since", offsetof(struct report_opts, since)},
	    {"--until", offsetof(struct report_opts, until)},
	    {"--by", offsetof(struct report_opts, by)},
	    {"--format", offsetof(struct report_opts, format)},
	    {"--workspace", offsetof(struct report_opts, workspace)},
	};
	int i;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			o->help = 1;
			return 0;
		}
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strcmp(argv[i], opts[k].name) == 0)
				break;
		if (k == sizeof(opts) / sizeof(opts[0]))
			return usage_error("unknown option \"%s\"", argv[i]);
		if (opt_value(argc, argv, &i,
		              (const char **)((char *)o + opts[k].off)) == -1)
			return usage_error("%s needs a value", argv[i]);
	}
	return 0;
}

/* Fills defaults and checks every value; 0 or 2 (printed). */
static int
check_args(struct report_opts *o)
{
	int64_t now = (int64_t)time(NULL) * 1000;

	if (o->db != NULL && o->config != NULL)
		return usage_error("%s", "give --db or -c, not both");
	if (o->since == NULL) {
		store_report_day(now, o->since_buf);
		memcpy(o->since_buf + 8, "01", 2);
		o->since = o->since_buf;
	}
	if (o->until == NULL) {
		store_report_day(now, o->until_buf);
		o->until = o->until_buf;
	}
	if (!store_report_valid_day(o->since))
		return usage_error("--since \"%s\" is not a day (YYYY-MM-DD)",
		                   o->since);
	if (!store_report_valid_day(o->until))
		return usage_error("--until \"%s\" is not a day (YYYY-MM-DD)",
		                   o->until);
	if (strcmp(o->since, o->until) > 0)
		return usage_error("%s", "--since is after --until");
	if (store_report_parse_keys(o->by != NULL ? o->by : "workspace",
	                            o->keys, &o->nkeys) == -1)
		return usage_error("--by \"%s\": give a comma-separated list "
		                   "of workspace, model, day, endpoint, each "
		                   "at most once",
		                   o->by);
	if (o->format == NULL)
		o->format = "table";
	if (strcmp(o->format, "table") != 0 && strcmp(o->format, "csv") != 0 &&
	    strcmp(o->format, "json") != 0)
		return usage_error("--format \"%s\": give table, csv or json",
		                   o->format);
	if (o->workspace != NULL &&
	    !config_valid_workspace_name(o->workspace, strlen(o->workspace)))
		return usage_error("--workspace \"%s\" is not a workspace name",
		                   o->workspace);
	return 0;
}

/* The database path (malloc'd), from --db, -c's config or the default;
 * NULL after printing why. */
static char *
db_path(const struct report_opts *o)
{
	struct config *cfg;
	char err[512];
	char *p;

	if (o->config == NULL)
		return strdup(o->db != NULL ? o->db : REPORT_DEFAULT_DB);
	if ((cfg = config_load(o->config, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tollgate report: %s\n", err);
		return NULL;
	}
	p = strdup(cfg->db);
	config_release(cfg);
	return p;
}

static struct store_reader *
open_db(const char *path)
{
	struct store_reader *rd;
	struct stat sb;
	char err[512];

	if (stat(path, &sb) == -1) {
		fprintf(stderr,
		        "tollgate report: no database at %s (%s).\n"
		        "The proxy creates it on its first start (tollgate run "
		        "-c FILE); name another with --db PATH or -c FILE.\n",
		        path, strerror(errno));
		return NULL;
	}
	if ((rd = store_reader_open(path, err, sizeof(err))) == NULL)
		fprintf(stderr, "tollgate report: %s\n", err);
	return rd;
}

/* --- table ------------------------------------------------------------------
 */

#define TABLE_NUMS 7 /* numeric columns after the keys */

struct table_row {
	char key[STORE_REPORT_MAX_KEYS][REPORT_KEY_MAX];
	char num[TABLE_NUMS][32];
};

struct table {
	struct table_row *v;
	size_t n, cap;
	size_t nkeys;
	int oom;
};

/* Cost with 6 decimals, rounded half up (the table is for reading; CSV
 * and JSON carry the exact nano-USD). */
static void
table_cost(uint64_t nano, char *buf, size_t cap)
{
	uint64_t micro = nano / 1000 + (nano % 1000 >= 500);

	snprintf(buf, cap, "%" PRIu64 ".%06" PRIu64, micro / 1000000,
	         micro % 1000000);
}

static void
table_nums(struct table_row *r, const struct store_report_totals *t)
{
	const uint64_t v[TABLE_NUMS - 1] = {t->requests,
	                                    t->input_tokens,
	                                    t->cached_input_tokens,
	                                    t->output_tokens,
	                                    t->reasoning_tokens,
	                                    t->input_tokens + t->output_tokens};
	int i;

	for (i = 0; i < TABLE_NUMS - 1; i++)
		snprintf(r->num[i], sizeof(r->num[i]), "%" PRIu64, v[i]);
	table_cost(t->cost_nanousd, r->num[TABLE_NUMS - 1], sizeof(r->num[0]));
}

static struct table_row *
table_push(struct table *tb)
{
	struct table_row *nv;
	size_t ncap;

	if (tb->n == tb->cap) {
		ncap = tb->cap ? tb->cap * 2 : 64;
		if ((nv = realloc(tb->v, ncap * sizeof(*nv))) == NULL) {
			tb->oom = 1;
			return NULL;
		}
		tb->v = nv;
		tb->cap = ncap;
	}
	memset(&tb->v[tb->n], 0, sizeof(tb->v[0]));
	return &tb->v[tb->n++];
}

static void
table_add(void *arg, const struct store_report_row *r)
{
	struct table *tb = arg;
	struct table_row *tr = table_push(tb);
	size_t i;

	if (tr == NULL)
		return;
	for (i = 0; i < r->nkeys; i++)
		snprintf(tr->key[i], sizeof(tr->key[i]), "%s",
		         r->key[i][0] != '\0' ? r->key[i] : "-");
	table_nums(tr, &r->t);
}

static void
table_print(const struct table *tb, const struct table_row *head)
{
	size_t w[STORE_REPORT_MAX_KEYS + TABLE_NUMS] = {0};
	size_t i, c, nk = tb->nkeys, len;

	for (i = 0; i < tb->n; i++)
		for (c = 0; c < nk + TABLE_NUMS; c++) {
			len = strlen(c < nk ? tb->v[i].key[c]
			                    : tb->v[i].num[c - nk]);
			w[c] = len > w[c] ? len : w[c];
		}
	for (i = 0; i < tb->n; i++) {
		const struct table_row *r = &tb->v[i];

		for (c = 0; c < nk; c++)
			printf("%-*s  ", (int)w[c], r->key[c]);
		for (c = 0; c < TABLE_NUMS; c++)
			printf("%*s%s", (int)w[nk + c], r->num[c],
			       c + 1 < TABLE_NUMS ? "  " : "\n");
		if (r == head) /* the header row is first: underline it */
			for (c = 0; c < nk + TABLE_NUMS; c++)
				printf(
				    "%.*s%s", (int)w[c],
				    "----------------------------------------"
				    "----------------------------------------"
				    "------------------------------------------"
				    "-----------------------------------------"
				    "-",
				    c + 1 < nk + TABLE_NUMS ? "  " : "\n");
	}
}

static int
report_table(struct store_reader *rd, const struct report_opts *o,
             const struct store_report_filter *f)
{
	static const char *const nums[TABLE_NUMS] = {
	    "REQUESTS",  "INPUT",  "CACHED",  "OUTPUT",
	    "REASONING", "TOKENS", "COST_USD"};
	struct table tb = {NULL, 0, 0, o->nkeys, 0};
	struct store_report_totals t;
	struct table_row *r;
	char err[512];
	int truncated = 0, rc = 1;
	size_t i;

	if ((r = table_push(&tb)) == NULL)
		goto out;
	for (i = 0; i < o->nkeys; i++)
		snprintf(r->key[i], sizeof(r->key[i]), "%s",
		         store_report_key_name(o->keys[i]));
	for (i = 0; i < TABLE_NUMS; i++)
		snprintf(r->num[i], sizeof(r->num[i]), "%s", nums[i]);
	for (i = 0; i < o->nkeys; i++) /* upper-case the key titles */
		for (char *p = r->key[i]; *p != '\0'; p++)
			*p = (char)(*p - 'a' + 'A');
	if (store_report_usage(rd, f, o->keys, o->nkeys, PROXY_REPORT_MAX_ROWS,
	                       table_add, &tb, &truncated, err,
	                       sizeof(err)) == -1 ||
	    store_report_totals(rd, f, &t, err, sizeof(err)) == -1) {
		fprintf(stderr, "tollgate report: %s\n", err);
		goto out;
	}
	if (tb.oom || (r = table_push(&tb)) == NULL) {
		fprintf(stderr, "tollgate report: out of memory\n");
		goto out;
	}
	snprintf(r->key[0], sizeof(r->key[0]), "TOTAL");
	table_nums(r, &t);
	if (o->nkeys == 0) /* no key column to hold "TOTAL" */
		tb.n--;
	table_print(&tb, &tb.v[0]);
	if (truncated)
		fprintf(stderr,
		        "tollgate report: only the first %d rows are "
		        "shown (narrow --since/--until or --by)\n",
		        PROXY_REPORT_MAX_ROWS);
	rc = 0;
out:
	free(tb.v);
	return rc;
}

static int
report_print(struct store_reader *rd, const struct report_opts *o)
{
	struct store_report_filter f = {o->workspace, o->since, o->until};
	struct evbuffer *b = NULL;
	char err[512];
	int truncated = 0, rc = 1;
	size_t len;

	if (strcmp(o->format, "table") == 0)
		return report_table(rd, o, &f);
	if ((b = evbuffer_new()) == NULL)
		return 1;
	if (proxy_report_usage(b, rd, &f, o->keys, o->nkeys,
	                       strcmp(o->format, "csv") == 0, &truncated, err,
	                       sizeof(err)) == -1) {
		fprintf(stderr, "tollgate report: %s\n", err);
		goto out;
	}
	len = evbuffer_get_length(b);
	if (fwrite(evbuffer_pullup(b, -1), 1, len, stdout) != len ||
	    fflush(stdout) != 0)
		goto out;
	if (truncated)
		fprintf(stderr,
		        "tollgate report: only the first %d rows "
		        "are shown\n",
		        PROXY_REPORT_MAX_ROWS);
	rc = 0;
out:
	evbuffer_free(b);
	return rc;
}

int
proxy_report_main(int argc, char **argv)
{
	struct report_opts o;
	struct store_reader *rd = NULL;
	char *path = NULL;
	int rc;

	memset(&o, 0, sizeof(o));
	if ((rc = parse_args(argc, argv, &o)) != 0)
		return rc;
	if (o.help) {
		fputs(report_usage_text, stdout);
		return 0;
	}
	if ((rc = check_args(&o)) != 0)
		return rc;
	if ((path = db_path(&o)) == NULL)
		return 1;
	rc = 1;
	if ((rd = open_db(path)) != NULL)
		rc = report_print(rd, &o);
	store_reader_close(rd);
	free(path);
	return rc;
}
