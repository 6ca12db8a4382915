/*
 * tool.h - what every cdt program does around its commands.
 *
 * A bin/cdt-NAME.c main is `return cdt_tool_main(&tool, argc, argv);`.
 * cdt_tool_main reopens /dev/null on a closed fd 0-2, ignores SIGPIPE,
 * parses the options (tool-wide ones anywhere), answers --help,
 * --version and --list-options, sets up logging, the output mode (records
 * on a pipe, text on a terminal, --json/--text/--jq) and the stdin reader
 * (not read when it is a terminal or with --no-stdin), runs the command,
 * and finishes: when it failed and stdout carries records, an error
 * record goes out last (unless one was already forwarded); then stdout is
 * closed and checked, and when the reader went away SIGPIPE is re-raised
 * so the shell sees the usual status.
 *
 * The stream functions implement DESIGN §2: read the record stream to
 * its end, forwarding every record in order except those the command
 * takes, remembering the context records (auth, session) and the first
 * incoming error record.
 */
#ifndef CDT_TOOL_H
#define CDT_TOOL_H

#include "compat.h"
#include <jv.h>
#include "opt.h"
#include "out.h"
#include "record.h"
#include "spool.h"

struct cdt_ctx {
	const struct cdt_tool *tool;
	struct cdt_args args;
	char **argv;		/* operands of the command */
	int argc;
	const char *dir;	/* -C DIR */
	bool force;
	bool no_input;
	enum cdt_out_mode out_mode;
	struct cdt_reader in;
	/* Context seen on stdin. */
	jv auth;
	jv session;
	jv upstream_error;	/* the first error record, or invalid */
	int nsessions;
	bool session_conflict;
};

int cdt_tool_main(const struct cdt_tool *t, int argc, char **argv);

/* Shorthands for the parsed options of the running command. */
const char *cdt_opt(struct cdt_ctx *ctx, const char *name);
bool cdt_flag(struct cdt_ctx *ctx, const char *name);

/* A usage error from a command: the line, the synopsis, the hint. */
int cdt_usage(struct cdt_ctx *ctx, const char *fmt, ...) CDT_PRINTF(2, 3);

/*
 * The stream loop.  fn sees every record (not consumed: copy what you
 * keep) and returns 0 to forward it, 1 when the command took it (not
 * forwarded), or a status to stop.  The context records are remembered
 * before fn sees them.
 */
typedef int (*cdt_stream_fn)(void *arg, jv rec, const char *type);
int cdt_stream_each(struct cdt_ctx *ctx, cdt_stream_fn fn, void *arg);
/* The common case: records whose type is in take (NULL-ended) go to sp. */
int cdt_stream_take(struct cdt_ctx *ctx, const char *const *take,
		    struct cdt_spool *sp);
/*
 * After the stream: when an error record came in and --force was not
 * given, say so on stderr and return its code (the record was forwarded);
 * otherwise 0.
 */
int cdt_stream_upstream(struct cdt_ctx *ctx, const char *what);

#include "banned.h"
#endif
