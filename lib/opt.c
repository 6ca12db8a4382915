#include "compat.h"
#include "err.h"
#include "opt.h"

const struct cdt_opt cdt_opt_global[] = {
	{ "directory", 'C', CDT_OPT_ARG | CDT_OPT_FILE, "DIR",
	  "work on the plain directory DIR (like git -C)" },
	{ "json", 0, 0, NULL, "print records, even on a terminal" },
	{ "text", 0, 0, NULL, "print text for a person, even on a pipe" },
	{ "jq", 0, CDT_OPT_ARG, "EXPR",
	  "run EXPR over this tool's own records; strings print raw" },
	{ "input", 0, CDT_OPT_ARG, "records|raw",
	  "how to read stdin (default: decided by its first value)" },
	{ "no-stdin", 0, 0, NULL, "do not read stdin" },
	{ "no-input", 0, 0, NULL, "never prompt; fail instead" },
	{ "force", 0, 0, NULL,
	  "act even after an upstream error record" },
	{ "quiet", 'q', CDT_OPT_REPEAT, NULL, "say less on stderr" },
	{ "verbose", 'v', CDT_OPT_REPEAT, NULL, "say more on stderr" },
	{ "token-file", 0, CDT_OPT_ARG | CDT_OPT_FILE, "FILE|-",
	  "read the access token or API key from FILE (- for stdin)" },
	{ "help", 'h', 0, NULL, "show this help" },
	{ "version", 0, 0, NULL, "show the version" },
	{ "list-options", 0, CDT_OPT_HIDDEN, NULL, NULL },
	{ 0 }
};

static bool
cmd_end(const struct cdt_cmd *c)
{
	return c->help == NULL;
}

const struct cdt_cmd *
cdt_opt_find_cmd(const struct cdt_tool *t, const char *word)
{
	if (!t->cmds || !word)
		return NULL;
	for (const struct cdt_cmd *c = t->cmds; !cmd_end(c); c++)
		if (c->name && !strcmp(c->name, word))
			return c;
	return NULL;
}

static const struct cdt_cmd *
default_cmd(const struct cdt_tool *t)
{
	if (!t->cmds)
		return NULL;
	for (const struct cdt_cmd *c = t->cmds; !cmd_end(c); c++)
		if (!c->name)
			return c;
	return NULL;
}

/* Look an option up in one table by long name (len) or short letter. */
static const struct cdt_opt *
find_in(const struct cdt_opt *tab, const char *lname, size_t len, int sh)
{
	if (!tab)
		return NULL;
	for (const struct cdt_opt *o = tab; o->name; o++) {
		if (sh && o->shortopt == sh)
			return o;
		if (lname && strlen(o->name) == len &&
		    !strncmp(o->name, lname, len))
			return o;
	}
	return NULL;
}

static const struct cdt_opt *
find_opt(const struct cdt_tool *t, const struct cdt_cmd *cmd,
	 const char *lname, size_t len, int sh)
{
	const struct cdt_opt *o = NULL;
	if (cmd)
		o = find_in(cmd->opts, lname, len, sh);
	if (!o)
		o = find_in(t->opts, lname, len, sh);
	if (!o)
		o = find_in(cdt_opt_global, lname, len, sh);
	return o;
}

/* Any command's option of that name, to know whether it takes a value. */
static const struct cdt_opt *
find_any(const struct cdt_tool *t, const char *lname, size_t len, int sh)
{
	const struct cdt_opt *o = find_opt(t, NULL, lname, len, sh);
	if (o || !t->cmds)
		return o;
	for (const struct cdt_cmd *c = t->cmds; !cmd_end(c); c++)
		if ((o = find_in(c->opts, lname, len, sh)))
			return o;
	return NULL;
}

/* The index of the command word (first operand), or -1. */
static int
find_cmd_word(const struct cdt_tool *t, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--"))
			return -1;
		if (a[0] != '-' || !a[1])
			return i;
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			const struct cdt_opt *o = find_any(t, a + 2, len, 0);
			if (o && (o->flags & CDT_OPT_ARG) && !eq)
				i++;
			continue;
		}
		for (const char *p = a + 1; *p; p++) {
			const struct cdt_opt *o = find_any(t, NULL, 0, *p);
			if (o && (o->flags & CDT_OPT_ARG)) {
				if (!p[1])
					i++;
				break;
			}
		}
	}
	return -1;
}

static int
add_val(struct cdt_args *a, const struct cdt_opt *o, const char *arg,
	char *why, size_t wl)
{
	if (!(o->flags & CDT_OPT_REPEAT)) {
		for (size_t i = 0; i < a->nvals; i++)
			if (a->vals[i].opt == o && !(o->flags & CDT_OPT_ARG)) {
				snprintf(why, wl, "option '--%s' given twice",
					 o->name);
				return EX_USAGE;
			}
	}
	a->vals = cdt_xrealloc(a->vals, (a->nvals + 1) * sizeof(*a->vals));
	a->vals[a->nvals].opt = o;
	a->vals[a->nvals].arg = arg;
	a->nvals++;
	if (!strcmp(o->name, "help"))
		a->help = true;
	else if (!strcmp(o->name, "version"))
		a->version = true;
	else if (!strcmp(o->name, "list-options"))
		a->list_options = true;
	return 0;
}

int
cdt_opt_parse(const struct cdt_tool *t, int argc, char **argv,
	      struct cdt_args *a, char *why, size_t wl)
{
	memset(a, 0, sizeof(*a));
	a->operands = cdt_xcalloc((size_t)argc + 1, sizeof(char *));
	int cw = find_cmd_word(t, argc, argv);
	const struct cdt_cmd *cmd = NULL;
	if (cw > 0 && (cmd = cdt_opt_find_cmd(t, argv[cw]))) {
		a->cmd_word = argv[cw];
	} else {
		cw = -1;
		cmd = default_cmd(t);
	}
	a->cmd = cmd;
	bool dashdash = false;
	for (int i = 1; i < argc; i++) {
		char *s = argv[i];
		if (i == cw)
			continue;
		if (dashdash || s[0] != '-' || !s[1]) {
			a->operands[a->noperands++] = s;
			continue;
		}
		if (!strcmp(s, "--")) {
			dashdash = true;
			continue;
		}
		if (s[1] == '-') {
			const char *eq = strchr(s + 2, '=');
			size_t len = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
			const struct cdt_opt *o = find_opt(t, cmd, s + 2, len,
							   0);
			if (!o) {
				snprintf(why, wl, "unknown option '--%.*s'%s%s",
					 (int)len, s + 2, a->cmd_word ?
					 " for " : "", a->cmd_word ?
					 a->cmd_word : "");
				return EX_USAGE;
			}
			const char *arg = NULL;
			if (o->flags & CDT_OPT_ARG) {
				if (eq) {
					arg = eq + 1;
				} else if (i + 1 < argc) {
					arg = argv[++i];
				} else {
					snprintf(why, wl, "option '--%s' needs "
						 "a value (%s)", o->name,
						 o->argname);
					return EX_USAGE;
				}
			} else if (eq) {
				snprintf(why, wl, "option '--%s' takes no "
					 "value", o->name);
				return EX_USAGE;
			}
			int rc = add_val(a, o, arg, why, wl);
			if (rc)
				return rc;
			continue;
		}
		for (char *p = s + 1; *p; p++) {
			const struct cdt_opt *o = find_opt(t, cmd, NULL, 0,
							   *p);
			if (!o) {
				snprintf(why, wl, "unknown option '-%c'", *p);
				return EX_USAGE;
			}
			const char *arg = NULL;
			if (o->flags & CDT_OPT_ARG) {
				if (p[1]) {
					arg = p + 1;
				} else if (i + 1 < argc) {
					arg = argv[++i];
				} else {
					snprintf(why, wl, "option '-%c' needs "
						 "a value (%s)", *p,
						 o->argname);
					return EX_USAGE;
				}
			}
			int rc = add_val(a, o, arg, why, wl);
			if (rc)
				return rc;
			if (arg)
				break;
		}
	}
	if (!cmd && t->cmds && !a->help && !a->version && !a->list_options) {
		if (a->noperands)
			snprintf(why, wl, "unknown command '%s'",
				 a->operands[0]);
		else
			snprintf(why, wl, "a command is needed");
		return EX_USAGE;
	}
	return 0;
}

void
cdt_args_release(struct cdt_args *a)
{
	free(a->vals);
	free(a->operands);
	memset(a, 0, sizeof(*a));
}

const char *
cdt_args_get(const struct cdt_args *a, const char *name)
{
	for (size_t i = a->nvals; i-- > 0;)
		if (!strcmp(a->vals[i].opt->name, name))
			return a->vals[i].arg ? a->vals[i].arg : "";
	return NULL;
}

bool
cdt_args_has(const struct cdt_args *a, const char *name)
{
	return cdt_args_get(a, name) != NULL;
}

int
cdt_args_count(const struct cdt_args *a, const char *name)
{
	int n = 0;
	for (size_t i = 0; i < a->nvals; i++)
		n += !strcmp(a->vals[i].opt->name, name);
	return n;
}

const char *
cdt_args_nth(const struct cdt_args *a, const char *name, int nth)
{
	for (size_t i = 0; i < a->nvals; i++)
		if (!strcmp(a->vals[i].opt->name, name) && nth-- == 0)
			return a->vals[i].arg ? a->vals[i].arg : "";
	return NULL;
}

static void
print_opts(FILE *f, const struct cdt_opt *tab)
{
	if (!tab)
		return;
	for (const struct cdt_opt *o = tab; o->name; o++) {
		if (o->flags & CDT_OPT_HIDDEN)
			continue;
		char left[64];
		if (o->shortopt)
			snprintf(left, sizeof(left), "-%c, --%s%s%s",
				 o->shortopt, o->name, o->argname ? " " : "",
				 o->argname ? o->argname : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name,
				 o->argname ? " " : "",
				 o->argname ? o->argname : "");
		fprintf(f, "  %-28s %s\n", left, o->help ? o->help : "");
	}
}

void
cdt_opt_usage(FILE *f, const struct cdt_tool *t, const struct cdt_cmd *cmd)
{
	if (cmd) {
		fprintf(f, "usage: %s [options]%s%s%s%s\n", t->name,
			cmd->name ? " " : "", cmd->name ? cmd->name : "",
			cmd->args && *cmd->args ? " " : "",
			cmd->args ? cmd->args : "");
		return;
	}
	bool first = true;
	for (const struct cdt_cmd *c = t->cmds; c && !cmd_end(c); c++) {
		fprintf(f, "%s %s [options]%s%s%s%s\n",
			first ? "usage:" : "      ", t->name,
			c->name ? " " : "", c->name ? c->name : "",
			c->args && *c->args ? " " : "",
			c->args ? c->args : "");
		first = false;
	}
	if (first)
		fprintf(f, "usage: %s [options]\n", t->name);
}

void
cdt_opt_help(FILE *f, const struct cdt_tool *t, const struct cdt_cmd *cmd)
{
	cdt_opt_usage(f, t, cmd);
	if (cmd && cmd->name) {
		fprintf(f, "\n%s\n", cmd->help);
	} else {
		fprintf(f, "\n%s\n", t->summary);
		if (t->cmds && !cmd_end(t->cmds)) {
			fprintf(f, "\ncommands:\n");
			for (const struct cdt_cmd *c = t->cmds; !cmd_end(c);
			     c++)
				fprintf(f, "  %-28s %s\n",
					c->name ? c->name : "(default)",
					c->help);
		}
	}
	if (!cmd)
		cmd = default_cmd(t);
	if (cmd && cmd->opts && cmd->opts->name) {
		fprintf(f, "\noptions:\n");
		print_opts(f, cmd->opts);
	}
	if (t->opts && t->opts->name) {
		fprintf(f, "\n%s options:\n", t->name);
		print_opts(f, t->opts);
	}
	fprintf(f, "\ntool-wide options:\n");
	print_opts(f, cdt_opt_global);
	fprintf(f, "\nSee %s(1).\n", t->name);
}

static void
list_tab(FILE *f, const struct cdt_opt *tab)
{
	if (!tab)
		return;
	for (const struct cdt_opt *o = tab; o->name; o++) {
		if (o->flags & CDT_OPT_HIDDEN)
			continue;
		fprintf(f, "--%s\t%s\n", o->name,
			o->flags & CDT_OPT_FILE ? "file" :
			o->flags & CDT_OPT_ARG ? "arg" : "flag");
		if (o->shortopt)
			fprintf(f, "-%c\t%s\n", o->shortopt,
				o->flags & CDT_OPT_FILE ? "file" :
				o->flags & CDT_OPT_ARG ? "arg" : "flag");
	}
}

void
cdt_opt_list(FILE *f, const struct cdt_tool *t, const char *word)
{
	const struct cdt_cmd *cmd = cdt_opt_find_cmd(t, word);
	if (!cmd) {
		for (const struct cdt_cmd *c = t->cmds; c && !cmd_end(c); c++)
			if (c->name)
				fprintf(f, "%s\tcommand\n", c->name);
		cmd = default_cmd(t);
	}
	if (cmd)
		list_tab(f, cmd->opts);
	list_tab(f, t->opts);
	list_tab(f, cdt_opt_global);
}
