/* cdt-session - workspace sessions and their sandboxes. */
#include "compat.h"
#include "tool.h"

static const struct cdt_opt create_opts[] = {
	{ "project", 0, CDT_OPT_ARG, "NAME", "the project of the session" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ "create", "--project NAME", "open a session", create_opts, NULL },
	{ "list", "", "list sessions", NULL, NULL },
	{ "get", "ID", "show one session", NULL, NULL },
	{ "exec", "-- COMMAND [ARG...]", "run a command in the sandbox", NULL,
	  NULL },
	{ "heartbeat", "[ID]", "keep a session alive", NULL, NULL },
	{ "pause", "[ID]", "pause a session", NULL, NULL },
	{ "resume", "[ID]", "resume a paused session", NULL, NULL },
	{ "terminate", "[ID]", "end a session", NULL, NULL },
	{ "gc", "", "reap expired sessions", NULL, NULL },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt-session", "Workspace sessions and their sandboxes.", cmds, NULL,
};

int
main(int argc, char **argv)
{
	return cdt_tool_main(&tool, argc, argv);
}
