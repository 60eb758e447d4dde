/*
 * proxy/report_cli.c — `tollgate report` (see report_cli.h).
 * NOT BUILT YET: scaffolding for the module's owner.
 */
#include <stdio.h>

#include "proxy/report_cli.h"

int
proxy_report_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "tollgate: \"report\" is not built yet\n");
	return 2;
}
