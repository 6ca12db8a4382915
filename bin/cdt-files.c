/* cdt-files - the workspace's files.  See cdt-files(1). */
#include "compat.h"
#include "files.h"
#include "tool.h"

static const struct cdt_opt ls_opts[] = {
	{ "recursive", 'r', 0, NULL, "list the whole tree below PATH" },
	{ 0 }
};

static const struct cdt_opt read_opts[] = {
	{ "recursive", 'r', 0, NULL, "read every file below a directory" },
	{ "raw", 0, 0, NULL, "print the bytes, not file records" },
	{ 0 }
};

static const struct cdt_opt rm_opts[] = {
	{ "recursive", 'r', 0, NULL, "remove a directory and its contents" },
	{ 0 }
};

static const struct cdt_opt mv_opts[] = {
	{ "overwrite", 0, 0, NULL, "replace TO when it exists" },
	{ 0 }
};

static const struct cdt_opt tool_opts[] = {
	{ "session", 0, CDT_OPT_ARG, "ID", "work in the session's workspace" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ "ls", "[PATH]", "list files as file records", ls_opts,
	  cdt_files_ls },
	{ "tree", "[PATH]", "show the tree below PATH", NULL, NULL },
	{ "read", "[PATH...]", "read files into file records (with no PATH: "
	  "the file records on stdin)", read_opts, cdt_files_read },
	{ "write", "[PATH]", "write file records from stdin, or raw stdin "
	  "to PATH, atomically", NULL, cdt_files_write },
	{ "apply", "", "apply edit records from stdin", NULL, NULL },
	{ "rm", "PATH...", "remove files", rm_opts, cdt_files_rm },
	{ "mv", "FROM TO", "rename a file or directory", mv_opts,
	  cdt_files_mv },
	{ "stat", "PATH...", "file records with size and sha256, no content",
	  NULL, cdt_files_stat },
	{ "sync", "--to s3|local", "copy the workspace between backends",
	  NULL, NULL },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt-files", "The workspace's files, as file records.", cmds,
	tool_opts,
};

int
main(int argc, char **argv)
{
	return cdt_tool_main(&tool, argc, argv);
}
