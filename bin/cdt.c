/* cdt - the front command: `cdt chat ...` runs cdt-chat.  See cdt(1). */
#include "compat.h"
#include "render.h"
#include "tool.h"

static const struct cdt_cmd cmds[] = {
	{ "auth", "...", "run cdt-auth", NULL, NULL },
	{ "session", "...", "run cdt-session", NULL, NULL },
	{ "chat", "...", "run cdt-chat", NULL, NULL },
	{ "files", "...", "run cdt-files", NULL, NULL },
	{ "checkpoint", "...", "run cdt-checkpoint", NULL, NULL },
	{ "route", "...", "run cdt-route", NULL, NULL },
	{ "render", "", "print any record stream for a person", NULL,
	  cdt_render_run },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt", "The CODITECT Development Toolkit.", cmds, NULL,
};

int
main(int argc, char **argv)
{
	if (argc > 1) {
		const struct cdt_cmd *c = cdt_opt_find_cmd(&tool, argv[1]);
		if (c && !c->run)
			return cdt_front_exec(argv[1], argc - 1, argv + 1);
	}
	return cdt_tool_main(&tool, argc, argv);
}
