/* cdt-session - workspace sessions and their sandboxes.  See cdt-session(1). */
#include "compat.h"
#include "session.h"
#include "tool.h"

static const struct cdt_opt create_opts[] = {
	{ "project", 0, CDT_OPT_ARG, "NAME", "the project of the session" },
	{ "type", 0, CDT_OPT_ARG, "interactive|batch|persistent",
	  "the sandbox type (interactive)" },
	{ "cpus", 0, CDT_OPT_ARG, "N", "CPUs (2)" },
	{ "memory", 0, CDT_OPT_ARG, "SIZE", "memory (4G)" },
	{ "disk", 0, CDT_OPT_ARG, "SIZE", "disk, per file (10G)" },
	{ "pids", 0, CDT_OPT_ARG, "N", "processes (512)" },
	{ "network", 0, CDT_OPT_ARG, "none|host", "the network (none)" },
	{ "sandbox", 0, CDT_OPT_ARG, "bwrap|none", "the sandbox engine "
	  "(bwrap)" },
	{ "parent", 0, CDT_OPT_ARG, "ID", "record the parent session" },
	{ "owner-pid", 0, CDT_OPT_ARG, "PID", "the process keeping the "
	  "session alive (the parent of create; 0: none)" },
	{ 0 }
};

static const struct cdt_opt list_opts[] = {
	{ "all", 0, 0, NULL, "every session you may read, not only yours" },
	{ "status", 0, CDT_OPT_ARG, "STATUS", "only sessions in STATUS" },
	{ 0 }
};

static const struct cdt_opt get_opts[] = {
	{ "history", 0, 0, NULL, "add the session's transitions and its "
	  "recorded processes" },
	{ 0 }
};

static const struct cdt_opt exec_opts[] = {
	{ "env", 0, CDT_OPT_ARG | CDT_OPT_REPEAT, "NAME=VALUE",
	  "set a variable inside" },
	{ "env-file", 0, CDT_OPT_ARG | CDT_OPT_FILE, "FILE",
	  "variables from FILE, NAME=VALUE a line" },
	{ "timeout", 0, CDT_OPT_ARG, "DURATION", "kill the sandbox after "
	  "DURATION and exit 124" },
	{ "detach", 0, 0, NULL, "start a long-running process of a "
	  "persistent session, logged, and return" },
	{ 0 }
};

static const struct cdt_opt gc_opts[] = {
	{ "prune", 0, 0, NULL, "also remove the branches and workspaces of "
	  "long-terminated sessions" },
	{ "dry-run", 0, 0, NULL, "with --prune: only say what would go" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ "create", "[--project NAME | -C DIR]", "open a session",
	  create_opts, cdt_session_create },
	{ "list", "", "list sessions", list_opts, cdt_session_list },
	{ "get", "[ID]", "show one session", get_opts,
	  cdt_session_get },
	{ "exec", "[ID] -- COMMAND [ARG...]", "run a command in the sandbox",
	  exec_opts, cdt_session_exec },
	{ "heartbeat", "[ID]", "keep a session alive", NULL,
	  cdt_session_heartbeat },
	{ "pause", "[ID]", "pause a session", NULL, cdt_session_pause },
	{ "resume", "[ID]", "resume a paused session", NULL,
	  cdt_session_resume },
	{ "terminate", "[ID]", "end a session", NULL, cdt_session_terminate },
	{ "gc", "", "terminate expired sessions and those whose owner died",
	  gc_opts, cdt_session_gc },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt-session", "Workspace sessions and their sandboxes.", cmds, NULL,
};

int
main(int argc, char **argv)
{
	cdt_session_set_argv(argc, argv);
	return cdt_tool_main(&tool, argc, argv);
}
