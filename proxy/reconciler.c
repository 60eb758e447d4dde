/*
 * proxy/reconciler.c — the reconciler thread (see reconciler.h).
 * NOT BUILT YET: scaffolding for the module's owner.
 */
#include <stdio.h>
#include <stdlib.h>

#include "proxy/reconciler.h"

struct proxy_reconciler {
	int unused;
};

struct proxy_reconciler *
proxy_reconciler_start(struct proxy *px, char *err, size_t errlen)
{
	(void)px;
	(void)err;
	(void)errlen;
	return calloc(1, sizeof(struct proxy_reconciler));
}

void
proxy_reconciler_stop(struct proxy_reconciler *rc)
{
	free(rc);
}

int
proxy_reconcile_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "tollgate: \"reconcile\" is not built yet\n");
	return 2;
}
