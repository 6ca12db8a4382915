/*
 * schema.h - the store's schema as an ordered list of migrations.
 *
 * Migration i (from 0) takes the schema from version i to version i + 1;
 * the newest version a cdt knows is cdt_schema_count.  A migration is
 * run once, inside the write transaction that store.c opens at start-up,
 * and is never edited after it ships: a change to the schema is a new
 * entry at the end of the list.  The SQL is written to be portable
 * (BIGINT, DOUBLE PRECISION, TEXT, ON CONFLICT); the SQLite-only bits
 * (INTEGER PRIMARY KEY as a growing id) are marked where they occur.
 */
#ifndef CDT_SCHEMA_H
#define CDT_SCHEMA_H

#include "compat.h"

struct cdt_schema_migration {
	const char *name;	/* recorded in schema_migrations */
	const char *sql;	/* several statements */
};

extern const struct cdt_schema_migration cdt_schema_migrations[];
extern const int cdt_schema_count;

#include "banned.h"
#endif
