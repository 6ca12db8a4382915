/*
 * Unit tests for lib/opt: the command word and the default command,
 * `--`, long options as --x=v and --x v, short ones as -xV and -x V,
 * bundled flags, repeats, tool-wide options before or after the command,
 * usage errors as EX_USAGE with a reason (and nothing printed), and the
 * help and --list-options text.
 */
#include "compat.h"
#include <fcntl.h>
#include <unistd.h>
#include "opt.h"
#include "tap.h"

static int
run_nothing(struct cdt_ctx *ctx)
{
	(void)ctx;
	return 0;
}

static const struct cdt_opt send_opts[] = {
	{ "model", 'm', CDT_OPT_ARG, "MODEL", "the model to ask" },
	{ "stream", 's', 0, NULL, "print deltas as they come" },
	{ 0 }
};

static const struct cdt_opt log_opts[] = {
	{ "limit", 'n', CDT_OPT_ARG, "N", "show at most N messages" },
	{ "all", 'a', 0, NULL, "every conversation" },
	{ 0 }
};

static const struct cdt_opt chat_opts[] = {
	{ "provider", 'p', CDT_OPT_ARG, "NAME", "use this provider" },
	{ "tag", 't', CDT_OPT_ARG | CDT_OPT_REPEAT, "TAG", "add a tag" },
	{ "out-file", 'o', CDT_OPT_ARG | CDT_OPT_FILE, "FILE", "write here" },
	{ "secret-knob", 0, CDT_OPT_HIDDEN, NULL, "not for people" },
	{ 0 }
};

static const struct cdt_cmd chat_cmds[] = {
	{ NULL, "[PROMPT...]", "send a prompt", send_opts, run_nothing },
	{ "log", "[ID]", "show a conversation", log_opts, run_nothing },
	{ "models", NULL, "list the models", NULL, NULL },
	{ 0 }
};

/* A tool like cdt-chat: a default command and two named ones. */
static const struct cdt_tool chat = {
	"cdt-chat", "talk to a model", chat_cmds, chat_opts,
};

static const struct cdt_opt write_opts[] = {
	{ "mode", 0, CDT_OPT_ARG, "MODE", "file mode" },
	{ 0 }
};

static const struct cdt_cmd files_cmds[] = {
	{ "read", "PATH...", "read files", NULL, run_nothing },
	{ "write", "[PATH]", "write files", write_opts, run_nothing },
	{ 0 }
};

/* A tool like cdt-files: named commands only. */
static const struct cdt_tool files = {
	"cdt-files", "the workspace's files", files_cmds, NULL,
};

/* A tool with no commands at all. */
static const struct cdt_tool plain = {
	"cdt-plain", "one job", NULL, NULL,
};

struct parsed {
	int rc;
	struct cdt_args a;
	char why[256];
	char *argv[32];
	int argc;
};

/* Parse a NULL-terminated list of words after the program name. */
static int
parse(struct parsed *p, const struct cdt_tool *t, ...)
{
	va_list ap;
	const char *w;
	p->argc = 0;
	p->argv[p->argc++] = (char *)t->name;
	va_start(ap, t);
	while ((w = va_arg(ap, const char *)) && p->argc < 31)
		p->argv[p->argc++] = (char *)w;
	va_end(ap);
	p->argv[p->argc] = NULL;
	memset(p->why, 0, sizeof(p->why));
	p->rc = cdt_opt_parse(t, p->argc, p->argv, &p->a, p->why,
			      sizeof(p->why));
	return p->rc;
}

/* The operands joined by '|'. */
static const char *
ops(const struct parsed *p)
{
	static char all[512];
	size_t off = 0;
	all[0] = '\0';
	for (int i = 0; i < p->a.noperands && off < sizeof(all); i++)
		off += (size_t)snprintf(all + off, sizeof(all) - off, "%s%s",
					i ? "|" : "", p->a.operands[i]);
	return all;
}

static const char *
cmdname(const struct parsed *p)
{
	if (!p->a.cmd)
		return "(none)";
	return p->a.cmd->name ? p->a.cmd->name : "(default)";
}

static void
done(struct parsed *p)
{
	cdt_args_release(&p->a);
}

static void
test_command_word(void)
{
	struct parsed p;

	parse(&p, &chat, "hello", "world", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "(default)") &&
	   p.a.cmd_word == NULL && !strcmp(ops(&p), "hello|world"),
	   "a first word that is no command runs the default command");
	done(&p);

	parse(&p, &chat, "log", "42", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "log") &&
	   p.a.cmd_word && !strcmp(p.a.cmd_word, "log") &&
	   !strcmp(ops(&p), "42"),
	   "a first word naming a command runs it; the rest are operands");
	done(&p);

	parse(&p, &chat, "--", "log", "this", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "(default)") &&
	   !strcmp(ops(&p), "log|this"),
	   "`cdt-chat -- log this` sends \"log this\"");
	done(&p);

	parse(&p, &chat, "hello", "log", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "(default)") &&
	   !strcmp(ops(&p), "hello|log"),
	   "only the first operand can be the command word");
	done(&p);

	parse(&p, &chat, NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "(default)") &&
	   p.a.noperands == 0, "no words at all: the default command");
	done(&p);

	parse(&p, &chat, "log", "--", "-n", "--all", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "log") &&
	   !strcmp(ops(&p), "-n|--all") && p.a.nvals == 0,
	   "after `--`, words that look like options are operands");
	done(&p);

	parse(&p, &chat, "-", NULL);
	ok(p.rc == 0 && !strcmp(ops(&p), "-"), "a lone '-' is an operand");
	done(&p);

	parse(&p, &files, "write", "a.c", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "write") &&
	   !strcmp(ops(&p), "a.c"), "a tool without a default command");
	done(&p);

	parse(&p, &plain, "x", "-q", NULL);
	ok(p.rc == 0 && p.a.cmd == NULL && !strcmp(ops(&p), "x") &&
	   cdt_args_count(&p.a, "quiet") == 1,
	   "a tool without commands: operands and tool-wide options");
	done(&p);

	ok(cdt_opt_find_cmd(&chat, "log") == &chat_cmds[1] &&
	   cdt_opt_find_cmd(&chat, "nope") == NULL &&
	   cdt_opt_find_cmd(&chat, NULL) == NULL &&
	   cdt_opt_find_cmd(&plain, "log") == NULL,
	   "cdt_opt_find_cmd");
}

static void
test_values(void)
{
	struct parsed p;

	parse(&p, &chat, "--model=opus", "hi", NULL);
	is_str(cdt_args_get(&p.a, "model"), "opus", "--model=VALUE");
	done(&p);

	parse(&p, &chat, "--model", "opus", "hi", NULL);
	ok(p.rc == 0 && !strcmp(cdt_args_get(&p.a, "model"), "opus") &&
	   !strcmp(ops(&p), "hi"), "--model VALUE; the value is no operand");
	done(&p);

	parse(&p, &chat, "--model=a=b", NULL);
	is_str(cdt_args_get(&p.a, "model"), "a=b", "--x=v keeps later '='");
	done(&p);

	parse(&p, &chat, "--model=", NULL);
	is_str(cdt_args_get(&p.a, "model"), "", "--x= gives an empty value");
	done(&p);

	parse(&p, &chat, "--model", "-weird", NULL);
	ok(p.rc == 0 && !strcmp(cdt_args_get(&p.a, "model"), "-weird"),
	   "a value may start with '-'");
	done(&p);

	parse(&p, &chat, "-mopus", NULL);
	is_str(cdt_args_get(&p.a, "model"), "opus", "-xVALUE");
	done(&p);

	parse(&p, &chat, "-m", "opus", "go", NULL);
	ok(p.rc == 0 && !strcmp(cdt_args_get(&p.a, "model"), "opus") &&
	   !strcmp(ops(&p), "go"), "-x VALUE");
	done(&p);

	parse(&p, &chat, "--stream", "hi", NULL);
	ok(p.rc == 0 && cdt_args_has(&p.a, "stream") &&
	   !strcmp(cdt_args_get(&p.a, "stream"), "") &&
	   !cdt_args_has(&p.a, "model") &&
	   cdt_args_get(&p.a, "model") == NULL,
	   "a flag given reads as \"\", an absent option as NULL");
	done(&p);

	parse(&p, &chat, "-t", "a", "--tag", "b", "--tag=c", "-td", NULL);
	ok(p.rc == 0 && cdt_args_count(&p.a, "tag") == 4,
	   "a repeatable option, four ways");
	ok(!strcmp(cdt_args_nth(&p.a, "tag", 0), "a") &&
	   !strcmp(cdt_args_nth(&p.a, "tag", 1), "b") &&
	   !strcmp(cdt_args_nth(&p.a, "tag", 2), "c") &&
	   !strcmp(cdt_args_nth(&p.a, "tag", 3), "d") &&
	   cdt_args_nth(&p.a, "tag", 4) == NULL,
	   "cdt_args_nth in order, NULL past the end");
	is_str(cdt_args_get(&p.a, "tag"), "d", "cdt_args_get: the last one");
	done(&p);

	parse(&p, &chat, "--model", "a", "--model", "b", NULL);
	ok(p.rc == 0 && !strcmp(cdt_args_get(&p.a, "model"), "b"),
	   "an option with a value given twice: the last wins");
	done(&p);

	parse(&p, &chat, "--provider", "x", "-o", "out.txt", NULL);
	ok(p.rc == 0 && !strcmp(cdt_args_get(&p.a, "provider"), "x") &&
	   !strcmp(cdt_args_get(&p.a, "out-file"), "out.txt"),
	   "the tool's own options");
	done(&p);
}

static void
test_bundles_and_globals(void)
{
	struct parsed p;

	parse(&p, &chat, "-qv", "-q", "log", NULL);
	ok(p.rc == 0 && cdt_args_count(&p.a, "quiet") == 2 &&
	   cdt_args_count(&p.a, "verbose") == 1 &&
	   !strcmp(cmdname(&p), "log"), "bundled -qv, then -q, then log");
	done(&p);

	parse(&p, &chat, "log", "-an3", NULL);
	ok(p.rc == 0 && cdt_args_has(&p.a, "all") &&
	   !strcmp(cdt_args_get(&p.a, "limit"), "3"),
	   "a bundle ending in a value: -an3");
	done(&p);

	parse(&p, &chat, "-qC", "/tmp/w", "log", "7", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "log") &&
	   !strcmp(cdt_args_get(&p.a, "directory"), "/tmp/w") &&
	   !strcmp(ops(&p), "7"),
	   "-qC DIR: the value is not taken for the command word");
	done(&p);

	parse(&p, &chat, "-C", "log", "models", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "models") &&
	   !strcmp(cdt_args_get(&p.a, "directory"), "log"),
	   "-C log models: 'log' is the directory, 'models' the command");
	done(&p);

	parse(&p, &chat, "--directory", "log", "hi", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "(default)") &&
	   !strcmp(ops(&p), "hi"),
	   "--directory log hi: 'log' is a value, 'hi' the prompt");
	done(&p);

	parse(&p, &chat, "--jq", ".id", "log", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "log") &&
	   !strcmp(cdt_args_get(&p.a, "jq"), ".id"),
	   "a tool-wide option with a value before the command word");
	done(&p);

	parse(&p, &chat, "log", "--json", "--input=raw", "-v", NULL);
	ok(p.rc == 0 && cdt_args_has(&p.a, "json") &&
	   !strcmp(cdt_args_get(&p.a, "input"), "raw") &&
	   cdt_args_count(&p.a, "verbose") == 1,
	   "tool-wide options after the command word");
	done(&p);

	parse(&p, &chat, "-n", "5", "log", NULL);
	ok(p.rc == 0 && !strcmp(cmdname(&p), "log") &&
	   !strcmp(cdt_args_get(&p.a, "limit"), "5") && p.a.noperands == 0,
	   "a command's option before its command word");
	done(&p);

	parse(&p, &chat, "--help", NULL);
	ok(p.rc == 0 && p.a.help && !p.a.version, "--help");
	done(&p);

	parse(&p, &chat, "log", "-h", NULL);
	ok(p.rc == 0 && p.a.help && !strcmp(cmdname(&p), "log"),
	   "log -h: help for that command");
	done(&p);

	parse(&p, &files, "--help", NULL);
	ok(p.rc == 0 && p.a.help && p.a.cmd == NULL,
	   "--help needs no command even when one is required");
	done(&p);

	parse(&p, &files, "--version", NULL);
	ok(p.rc == 0 && p.a.version, "--version needs no command");
	done(&p);

	parse(&p, &files, "--list-options", "write", NULL);
	ok(p.rc == 0 && p.a.list_options && !strcmp(cmdname(&p), "write"),
	   "--list-options write");
	done(&p);

	parse(&p, &chat, "--secret-knob", NULL);
	ok(p.rc == 0 && cdt_args_has(&p.a, "secret-knob"),
	   "a hidden option still parses");
	done(&p);
}

/* Parse, expecting EX_USAGE with `reason` in *why and nothing printed. */
static void
usage_case(const struct cdt_tool *t, const char *reason, const char *title,
	   ...)
{
	struct parsed p;
	va_list ap;
	const char *w;
	char tmpl[] = "/tmp/t-opt-err.XXXXXX";
	int efd = mkstemp(tmpl);
	int saved1 = dup(1);
	int saved2 = dup(2);

	p.argc = 0;
	p.argv[p.argc++] = (char *)t->name;
	va_start(ap, title);
	while ((w = va_arg(ap, const char *)) && p.argc < 31)
		p.argv[p.argc++] = (char *)w;
	va_end(ap);
	p.argv[p.argc] = NULL;
	p.why[0] = '\0';

	unlink(tmpl);
	fflush(stdout);
	fflush(stderr);
	dup2(efd, 1);
	dup2(efd, 2);
	int rc = cdt_opt_parse(t, p.argc, p.argv, &p.a, p.why,
			       sizeof(p.why));
	fflush(stdout);
	fflush(stderr);
	dup2(saved1, 1);
	dup2(saved2, 2);
	close(saved1);
	close(saved2);
	off_t printed = lseek(efd, 0, SEEK_END);
	close(efd);
	cdt_args_release(&p.a);

	if (!ok(rc == EX_USAGE && strstr(p.why, reason), "%s", title))
		diag("rc %d, why '%s', want '%s'", rc, p.why, reason);
	if (printed != 0)
		ok(0, "%s: parsing printed %lld bytes", title,
		   (long long)printed);
}

static void
test_errors(void)
{
	usage_case(&chat, "unknown option '--bogus'",
		   "unknown long option: 64 naming it", "--bogus", NULL);
	usage_case(&chat, "unknown option '--bogus' for log",
		   "unknown long option after a command names the command",
		   "log", "--bogus=1", NULL);
	usage_case(&chat, "unknown option '-Z'",
		   "unknown short option: 64 naming it", "-Z", NULL);
	usage_case(&chat, "unknown option '-Z'",
		   "unknown letter inside a bundle", "-qZv", NULL);
	usage_case(&chat, "'--model' needs a value",
		   "--model at the end: needs a value", "--model", NULL);
	usage_case(&chat, "'-m' needs a value",
		   "-m at the end: needs a value", "hi", "-m", NULL);
	usage_case(&chat, "'--json' takes no value",
		   "--json=yes: takes no value", "--json=yes", NULL);
	usage_case(&chat, "'--json' given twice",
		   "a flag given twice", "--json", "log", "--json", NULL);
	usage_case(&chat, "unknown option '--limit' for models",
		   "another command's option", "models", "--limit", "3",
		   NULL);
	usage_case(&chat, "unknown option '-m'",
		   "the default command's option after another command",
		   "log", "-m", "x", NULL);
	usage_case(&files, "unknown command 'frob'",
		   "no default command: an unknown word is 64",
		   "frob", "a.c", NULL);
	usage_case(&files, "a command is needed",
		   "no default command: no word at all is 64", "-q", NULL);
	usage_case(&files, "unknown command 'read'",
		   "`--` before the command word: it is an operand",
		   "--", "read", NULL);
	usage_case(&files, "'--mode' needs a value",
		   "a command's option at the end", "write", "--mode", NULL);
}

static char *
capture(void (*fn)(FILE *, const struct cdt_tool *, const struct cdt_cmd *),
	const struct cdt_tool *t, const struct cdt_cmd *cmd)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	fn(f, t, cmd);
	fclose(f);
	return s;
}

static void
test_help(void)
{
	char *s = capture(cdt_opt_usage, &chat, NULL);
	ok(strstr(s, "usage: cdt-chat [options] [PROMPT...]\n") &&
	   strstr(s, "cdt-chat [options] log [ID]\n") &&
	   strstr(s, "cdt-chat [options] models\n"),
	   "usage lists a synopsis per command");
	free(s);

	s = capture(cdt_opt_usage, &chat, &chat_cmds[1]);
	is_str(s, "usage: cdt-chat [options] log [ID]\n",
	       "usage of one command is its synopsis");
	free(s);

	s = capture(cdt_opt_help, &chat, NULL);
	ok(strstr(s, "talk to a model") && strstr(s, "commands:") &&
	   strstr(s, "log") && strstr(s, "show a conversation") &&
	   strstr(s, "--provider NAME") && strstr(s, "-t, --tag TAG") &&
	   strstr(s, "--directory DIR") && strstr(s, "See cdt-chat(1)."),
	   "--help: summary, commands, the tool's and tool-wide options");
	ok(!strstr(s, "secret-knob") && !strstr(s, "list-options"),
	   "--help leaves hidden options out");
	free(s);

	s = capture(cdt_opt_help, &chat, &chat_cmds[1]);
	ok(strstr(s, "show a conversation") && strstr(s, "-n, --limit N") &&
	   strstr(s, "-a, --all") && !strstr(s, "--model"),
	   "log --help: its own options, not the default command's");
	free(s);

	char *l = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&l, &n);
	cdt_opt_list(f, &chat, "log");
	fclose(f);
	ok(strstr(l, "--limit\targ\n") && strstr(l, "-n\targ\n") &&
	   strstr(l, "--all\tflag\n") && strstr(l, "--out-file\tfile\n") &&
	   strstr(l, "--directory\tfile\n") && strstr(l, "-q\tflag\n") &&
	   !strstr(l, "\tcommand\n") && !strstr(l, "secret-knob") &&
	   !strstr(l, "list-options"),
	   "--list-options log: its options with their kind, no hidden ones");
	free(l);

	l = NULL;
	f = open_memstream(&l, &n);
	cdt_opt_list(f, &chat, NULL);
	fclose(f);
	ok(strstr(l, "log\tcommand\n") && strstr(l, "models\tcommand\n") &&
	   strstr(l, "--model\targ\n") && strstr(l, "--json\tflag\n"),
	   "--list-options: commands, then the default command's options");
	free(l);
}

int
main(void)
{
	test_command_word();
	test_values();
	test_bundles_and_globals();
	test_errors();
	test_help();
	return done_testing();
}
