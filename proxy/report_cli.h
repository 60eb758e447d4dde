/*
 * proxy/report_cli.h — `tollgate report` (DESIGN.md "Command line"): spend
 * grouped by workspace, model, day or endpoint, from the database opened
 * read-only (works while the proxy runs), as a table, CSV or JSON.
 */
#ifndef PROXY_REPORT_CLI_H
#define PROXY_REPORT_CLI_H

/* argv[0] is "report".  Exit status: 0, 1 (database), 2 (usage). */
int proxy_report_main(int argc, char **argv);

#endif
