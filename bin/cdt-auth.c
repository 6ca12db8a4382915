/* cdt-auth - identity, tokens, API keys, roles.  See cdt-auth(1). */
#include "compat.h"
#include "tool.h"

static const struct cdt_cmd cmds[] = {
	{ "init", "", "create the org, team and admin, and log in", NULL,
	  NULL },
	{ "register", "--email E --org O --team T", "add a user", NULL, NULL },
	{ "login", "", "log in and print an auth record", NULL, NULL },
	{ "refresh", "", "rotate the saved tokens", NULL, NULL },
	{ "logout", "", "revoke the saved tokens", NULL, NULL },
	{ "whoami", "", "print who is logged in", NULL, NULL },
	{ "token", "", "print the raw access token", NULL, NULL },
	{ "passwd", "", "set the password", NULL, NULL },
	{ "users", "list|disable [EMAIL]", "list or disable users", NULL,
	  NULL },
	{ "keys", "create|list|revoke", "API keys for CI", NULL, NULL },
	{ "grant", "EMAIL ROLE", "give a role", NULL, NULL },
	{ "revoke", "EMAIL ROLE", "take a role away", NULL, NULL },
	{ "check", "PERMISSION", "exit 0 when allowed, 1 when not", NULL,
	  NULL },
	{ "audit", "", "the security events", NULL, NULL },
	{ "provider", "set|list|rm [NAME]", "provider API keys", NULL, NULL },
	{ 0 }
};

static const struct cdt_tool tool = {
	"cdt-auth", "Identity, tokens, API keys, roles and provider "
	"credentials.", cmds, NULL,
};

int
main(int argc, char **argv)
{
	return cdt_tool_main(&tool, argc, argv);
}
