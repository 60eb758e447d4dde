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

/* Runs sql (one or more statements): 0, or -1 with SQLite's message in
 * err. */
int store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

#endif
