/*
 * proxy/report_cli.h — `tollgate report` (DESIGN.md "Command line"): spend
 * grouped by workspace, model, day or endpoint, from the database opened
 * read-only (works while the proxy runs), as a table, CSV or JSON.
 *
 * The CSV and JSON writers are shared with the admin API's /api/usage and
 * /api/usage.csv (proxy/admin_usage.c), so both give the same bytes.
 */
#ifndef PROXY_REPORT_CLI_H
#define PROXY_REPORT_CLI_H

#include <event2/buffer.h>

#include "store/report.h"

#define PROXY_REPORT_MAX_ROWS 10000 /* rows of one usage report */

/* argv[0] is "report".  Exit status: 0, 1 (database), 2 (usage). */
int proxy_report_main(int argc, char **argv);

/* "key":1.234567890 — nano-USD as exact USD (key NULL: the bare number). */
void proxy_report_usd(struct evbuffer *b, const char *key, uint64_t nano);

/*
 * The usage report over f grouped by by[0..nby): appends to b the JSON
 * object {"from","to","workspace","group_by","rows","totals","truncated"}
 * (docs/admin-api.md, GET /api/usage), or with csv set the CSV (header
 * row, RFC 4180 quoting, CRLF).  At most PROXY_REPORT_MAX_ROWS rows;
 * *truncated says whether more matched.  0, or -1 with err (b may hold
 * part of the output then).
 */
int proxy_report_usage(struct evbuffer *b, struct store_reader *rd,
                       const struct store_report_filter *f,
                       const enum store_report_key *by, size_t nby, int csv,
                       int *truncated, char *err, size_t errlen);

#endif
