/* cdt-chat - one turn or a REPL with an LLM.  See cdt-chat(1). */
#include "compat.h"
#include "chat.h"
#include "tool.h"

static const struct cdt_opt send_opts[] = {
	{ "provider", 0, CDT_OPT_ARG, "P[,P...]",
	  "use only these providers, in this order" },
	{ "model", 'm', CDT_OPT_ARG, "[PROVIDER:]MODEL", "the model" },
	{ "system", 's', CDT_OPT_ARG, "TEXT", "the system prompt" },
	{ "file", 'f', CDT_OPT_ARG | CDT_OPT_REPEAT | CDT_OPT_FILE, "FILE",
	  "attach a file (repeatable)" },
	{ "continue", 'c', 0, NULL,
	  "continue the most recently used conversation" },
	{ "conversation", 0, CDT_OPT_ARG, "ID",
	  "continue that conversation (a unique prefix will do)" },
	{ "session", 0, CDT_OPT_ARG, "ID", "the session it belongs to" },
	{ "task", 0, CDT_OPT_ARG, "T", "the task type, for routing" },
	{ "stream", 0, 0, NULL, "add delta records as chunks arrive" },
	{ "edit", 0, 0, NULL,
	  "ask for file and edit blocks; emit them as records" },
	{ "no-log", 0, 0, NULL, "store nothing" },
	{ "max-tokens", 0, CDT_OPT_ARG, "N", "the longest reply" },
	{ "temperature", 0, CDT_OPT_ARG, "T", "sampling temperature, 0 to 2" },
	{ "record", 0, CDT_OPT_ARG | CDT_OPT_FILE, "FILE",
	  "append live replies to the cassette FILE" },
	{ "replay", 0, CDT_OPT_ARG | CDT_OPT_FILE, "FILE",
	  "serve replies from the cassette FILE, offline" },
	{ "interactive", 'i', 0, NULL, "a REPL on the terminal" },
	{ 0 }
};

static const struct cdt_opt log_opts[] = {
	{ "conversation", 0, CDT_OPT_ARG, "ID",
	  "that conversation (a unique prefix will do)" },
	{ "session", 0, CDT_OPT_ARG, "ID", "every conversation of a session" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ NULL, "[PROMPT...]", "send a prompt", send_opts, cdt_chat_send },
	{ "log", "", "show a conversation's messages", log_opts,
	  cdt_chat_log },
	{ "models", "", "list the known models", NULL, cdt_chat_models },
	{ "extract", "", "parse file and edit blocks from reply text", NULL,
	  cdt_chat_extract },
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
