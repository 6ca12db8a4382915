/*
 * opt.h - one option table per tool drives parsing, --help and the hidden
 * --list-options that the completions call.
 *
 * A tool is a table of commands, each with its own options; the tool-wide
 * options (cdt_opt_global) are accepted before or after the command word.
 * The command word is the first operand; a tool may have a default
 * command (name NULL) that runs when that word names no command, so
 * `cdt-chat hello` sends "hello" and `cdt-chat -- log this` sends "log
 * this".  Long options take --name=VALUE or --name VALUE, short ones -xVAL
 * or -x VAL, and short flags bundle (-qv).  Parsing never prints: it
 * returns EX_USAGE with the reason in *why.
 */
#ifndef CDT_OPT_H
#define CDT_OPT_H

#include "compat.h"

enum cdt_opt_flags {
	CDT_OPT_ARG = 1 << 0,		/* takes a value */
	CDT_OPT_REPEAT = 1 << 1,	/* may be given more than once */
	CDT_OPT_HIDDEN = 1 << 2,	/* not in --help */
	CDT_OPT_FILE = 1 << 3,		/* the value is a path (completion) */
};

struct cdt_opt {
	const char *name;	/* long name, without "--" */
	int shortopt;		/* 0 if none */
	unsigned flags;
	const char *argname;	/* "FILE" */
	const char *help;
};

struct cdt_ctx;
typedef int (*cdt_cmd_fn)(struct cdt_ctx *ctx);

struct cdt_cmd {
	const char *name;	/* NULL: the default command */
	const char *args;	/* operands for the synopsis: "[PATH...]" */
	const char *help;
	const struct cdt_opt *opts;	/* ends with {0}; may be NULL */
	cdt_cmd_fn run;		/* the command (never NULL) */
};

struct cdt_tool {
	const char *name;	/* "cdt-files" */
	const char *summary;
	const struct cdt_cmd *cmds;	/* ends with an entry whose help is
					   NULL */
	const struct cdt_opt *opts;	/* for every command; may be NULL */
};

/* The tool-wide options, ending with {0}. */
extern const struct cdt_opt cdt_opt_global[];

struct cdt_optval {
	const struct cdt_opt *opt;
	const char *arg;	/* NULL for a flag */
};

struct cdt_args {
	const struct cdt_cmd *cmd;
	const char *cmd_word;	/* NULL for the default command */
	struct cdt_optval *vals;
	size_t nvals;
	char **operands;
	int noperands;
	bool help;
	bool version;
	bool list_options;
};

/* Parse argv; EX_USAGE with *why (static or in whybuf) on error. */
int cdt_opt_parse(const struct cdt_tool *t, int argc, char **argv,
		  struct cdt_args *a, char *whybuf, size_t whylen);
void cdt_args_release(struct cdt_args *a);

/* The last value of an option (NULL if absent, "" for a flag given). */
const char *cdt_args_get(const struct cdt_args *a, const char *name);
bool cdt_args_has(const struct cdt_args *a, const char *name);
int cdt_args_count(const struct cdt_args *a, const char *name);
/* The i-th value of a repeatable option, or NULL. */
const char *cdt_args_nth(const struct cdt_args *a, const char *name, int i);

/* Usage text (synopsis lines) and full --help text to f. */
void cdt_opt_usage(FILE *f, const struct cdt_tool *t,
		   const struct cdt_cmd *cmd);
void cdt_opt_help(FILE *f, const struct cdt_tool *t,
		  const struct cdt_cmd *cmd);
/* For completions: commands, then options of cmd (or the top level). */
void cdt_opt_list(FILE *f, const struct cdt_tool *t, const char *cmd);
/* The command named word, or NULL. */
const struct cdt_cmd *cdt_opt_find_cmd(const struct cdt_tool *t,
				       const char *word);

#include "banned.h"
#endif
