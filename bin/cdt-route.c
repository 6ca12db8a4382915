/* cdt-route - which provider serves a request; breakers; health. */
#include "compat.h"
#include "tool.h"

static const struct cdt_cmd cmds[] = {
	{ "status", "[--check]", "one route record per provider", NULL,
	  NULL },
	{ "pick", "[--task T]", "which provider would serve now, and why",
	  NULL, NULL },
	{ "send", "[PROMPT...]", "route one request", NULL, NULL },
	{ "probe", "[PROVIDER]", "refresh health with a tiny request", NULL,
	  NULL },
	{ "reset", "[PROVIDER]", "close breakers", NULL, NULL },
	{ "config", "", "the effective routing config", NULL, NULL },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt-route", "Routing, fallback and circuit breakers.", cmds, NULL,
};

int
main(int argc, char **argv)
{
	return cdt_tool_main(&tool, argc, argv);
}
