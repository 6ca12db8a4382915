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

static const struct cdt_opt write_opts[] = {
	{ "partial", 0, 0, NULL, "apply per file, not all or nothing" },
	{ "dry-run", 'n', 0, NULL, "print the unified diff, change nothing" },
	{ "if-match", 0, CDT_OPT_ARG, "SHA256",
	  "with PATH: refuse unless the file's sha256 is SHA256" },
	{ 0 }
};

static const struct cdt_opt apply_opts[] = {
	{ "partial", 0, 0, NULL, "apply per file, not all or nothing" },
	{ "dry-run", 'n', 0, NULL, "print the unified diff, change nothing" },
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

static const struct cdt_opt sync_opts[] = {
	{ "to", 0, CDT_OPT_ARG, "s3|local", "the backend of DEST" },
	{ "delete", 0, 0, NULL, "remove what DEST has and the workspace "
	  "has not" },
	{ 0 }
};

static const struct cdt_opt tool_opts[] = {
	{ "session", 0, CDT_OPT_ARG, "ID", "work in the session's workspace" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ "ls", "[PATH]", "list files as file records", ls_opts,
	  cdt_files_ls },
	{ "tree", "[PATH]", "show the tree below PATH", NULL,
	  cdt_files_tree },
	{ "read", "[PATH...]", "read files into file records (with no PATH: "
	  "the file records on stdin)", read_opts, cdt_files_read },
	{ "write", "[PATH]", "write the file and edit records of stdin, or "
	  "raw stdin to PATH, atomically", write_opts, cdt_files_write },
	{ "apply", "", "apply the edit records of stdin", apply_opts,
	  cdt_files_apply },
	{ "rm", "PATH...", "remove files", rm_opts, cdt_files_rm },
	{ "mv", "FROM TO", "rename a file or directory", mv_opts,
	  cdt_files_mv },
	{ "stat", "PATH...", "file records with size and sha256, no content",
	  NULL, cdt_files_stat },
	{ "sync", "--to s3|local DEST", "copy the workspace to another "
	  "backend", sync_opts, cdt_files_sync },
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
