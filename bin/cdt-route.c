/* cdt-route - which provider serves a request; breakers; health. */
#include "compat.h"
#include "routecmd.h"
#include "tool.h"

static const struct cdt_opt status_opts[] = {
	{ "check", 0, 0, NULL, "exit 0 when all are healthy, 1 when any is "
	  "not, 69 when none can serve" },
	{ 0 }
};

static const struct cdt_opt pick_opts[] = {
	{ "task", 0, CDT_OPT_ARG, "T", "use the task's list (routing.tasks)" },
	{ "strategy", 0, CDT_OPT_ARG, "priority|cost|latency",
	  "order the candidates this way" },
	{ 0 }
};

static const struct cdt_opt send_opts[] = {
	{ "task", 0, CDT_OPT_ARG, "T", "use the task's list (routing.tasks)" },
	{ "strategy", 0, CDT_OPT_ARG, "priority|cost|latency",
	  "order the candidates this way" },
	{ "model", 'm', CDT_OPT_ARG, "[PROVIDER:]MODEL", "the model to ask" },
	{ "max-tokens", 0, CDT_OPT_ARG, "N", "the longest reply, in tokens" },
	{ "temperature", 0, CDT_OPT_ARG, "T", "sampling temperature, 0 to 2" },
	{ "stream", 0, 0, NULL, "print delta records as the reply arrives" },
	{ 0 }
};

static const struct cdt_opt tool_opts[] = {
	{ "provider", 0, CDT_OPT_ARG, "P[,P...]",
	  "only these providers, in this order" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ "status", "[--check]", "one route record per provider", status_opts,
	  cdt_routecmd_status },
	{ "pick", "[--task T] [--strategy S]",
	  "which provider would serve now, and why", pick_opts,
	  cdt_routecmd_pick },
	{ "send", "[PROMPT...]", "route one request; print the reply",
	  send_opts, cdt_routecmd_send },
	{ "probe", "[PROVIDER]", "refresh health with a tiny request", NULL,
	  cdt_routecmd_probe },
	{ "reset", "[PROVIDER]", "close breakers and clear blocks", NULL,
	  cdt_routecmd_reset },
	{ "config", "", "the effective routing config", NULL,
	  cdt_routecmd_config },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt-route", "Routing, fallback and circuit breakers.", cmds,
	tool_opts,
};

int
main(int argc, char **argv)
{
	return cdt_tool_main(&tool, argc, argv);
}
