/* cdt-checkpoint - git snapshots of the workspace. */
#include "compat.h"
#include "tool.h"

static const struct cdt_opt create_opts[] = {
	{ "message", 'm', CDT_OPT_ARG, "TEXT", "the commit message" },
	{ "require-success", 0, 0, NULL,
	  "refuse when the last exit record is not 0" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ "create", "[-m TEXT]", "commit the workspace", create_opts, NULL },
	{ "list", "", "list checkpoints", NULL, NULL },
	{ "show", "SHA", "show one checkpoint", NULL, NULL },
	{ "diff", "[SHA [SHA]]", "changes, in git's format", NULL, NULL },
	{ "restore", "SHA", "restore, after checkpointing the current state",
	  NULL, NULL },
	{ "push", "[REMOTE]", "push session branches", NULL, NULL },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt-checkpoint", "Git snapshots of the workspace.", cmds, NULL,
};

int
main(int argc, char **argv)
{
	return cdt_tool_main(&tool, argc, argv);
}
