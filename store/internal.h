/*
 * store/internal.h — what the store's own modules share (store.c,
 * report.c, reconcile.c).  Never included outside store/.
 */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include <sqlite3.h>

/* A read-only connection (store_reader_open); reports and the admin
 * thread use it, never the writer's. */
struct store_reader {
	sqlite3 *db;
};

#endif
