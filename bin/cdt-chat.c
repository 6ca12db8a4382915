/* cdt-chat - one turn or a REPL with an LLM.  See cdt-chat(1). */
#include "compat.h"
#include "tool.h"

static const struct cdt_opt send_opts[] = {
	{ "provider", 0, CDT_OPT_ARG, "P[,P...]", "the providers to use" },
	{ "model", 'm', CDT_OPT_ARG, "[PROVIDER:]MODEL", "the model" },
	{ "edit", 0, 0, NULL, "ask for file and edit blocks" },
	{ "stream", 0, 0, NULL, "add delta records as chunks arrive" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ NULL, "[PROMPT...]", "send a prompt", send_opts, NULL },
	{ "log", "", "show a conversation", NULL, NULL },
	{ "models", "", "list the known models", NULL, NULL },
	{ "extract", "", "parse file and edit blocks from reply text", NULL,
	  NULL },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt-chat", "Chat with LLM providers; replies as message records.",
	cmds, NULL,
};

int
main(int argc, char **argv)
{
	return cdt_tool_main(&tool, argc, argv);
}
