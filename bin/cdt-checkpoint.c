/* cdt-checkpoint - git snapshots of the workspace.  See cdt-checkpoint(1). */
#include "compat.h"
#include "checkpoint.h"
#include "tool.h"

#define BRANCH_OPT(what) \
	{ "branch", 0, CDT_OPT_ARG, "B", what }

static const struct cdt_opt create_opts[] = {
	{ "message", 'm', CDT_OPT_ARG, "TEXT", "the commit message" },
	{ "file", 'F', CDT_OPT_ARG | CDT_OPT_FILE, "FILE",
	  "the commit message from FILE" },
	BRANCH_OPT("commit on branch B without moving HEAD or the index"),
	{ "require-success", 0, 0, NULL,
	  "refuse when the last exit record is not 0" },
	{ "exit-code", 0, 0, NULL, "exit 1 when nothing changed" },
	{ "from-records", 0, 0, NULL,
	  "commit the file records on stdin over the last checkpoint" },
	{ "full-tree", 0, 0, NULL,
	  "with --from-records: the records are the whole tree" },
	{ 0 }
};

static const struct cdt_opt list_opts[] = {
	BRANCH_OPT("list branch B (default: HEAD's)"),
	{ "max-count", 'n', CDT_OPT_ARG, "N", "at most N checkpoints" },
	{ 0 }
};

static const struct cdt_opt diff_opts[] = {
	BRANCH_OPT("compare with branch B's last checkpoint"),
	{ "exit-code", 0, 0, NULL, "exit 1 when there are differences" },
	{ 0 }
};

static const struct cdt_opt restore_opts[] = {
	BRANCH_OPT("keep the current state on branch B"),
	{ 0 }
};

static const struct cdt_opt push_opts[] = {
	{ "remote", 0, CDT_OPT_ARG, "NAME|URL",
	  "where to push (default: origin)" },
	{ "to", 0, CDT_OPT_ARG, "BRANCH", "the remote branch to push to" },
	BRANCH_OPT("with no checkpoint records: push branch B"),
	{ 0 }
};

static const struct cdt_opt tool_opts[] = {
	{ "session", 0, CDT_OPT_ARG, "ID", "work in the session's workspace" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ "create", "[-m TEXT | -F FILE]", "commit the workspace",
	  create_opts, cdt_checkpoint_create },
	{ "list", "", "list checkpoints, newest first", list_opts,
	  cdt_checkpoint_list },
	{ "show", "REF", "one checkpoint, with its files", NULL,
	  cdt_checkpoint_show },
	{ "diff", "[A [B]]", "changes in git's format (default: the last "
	  "checkpoint against the work tree)", diff_opts,
	  cdt_checkpoint_diff },
	{ "restore", "REF [PATH...]", "restore, after checkpointing the "
	  "current state", restore_opts, cdt_checkpoint_restore },
	{ "push", "[--remote NAME|URL] [--to BRANCH]",
	  "push the branches of checkpoint records", push_opts,
	  cdt_checkpoint_push },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt-checkpoint", "Git snapshots of the workspace.", cmds, tool_opts,
};

int
main(int argc, char **argv)
{
	return cdt_tool_main(&tool, argc, argv);
}
