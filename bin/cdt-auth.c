/* cdt-auth - identity, tokens, API keys, roles.  See cdt-auth(1). */
#include "compat.h"
#include "authcmd.h"
#include "tool.h"

static const struct cdt_opt init_opts[] = {
	{ "org", 0, CDT_OPT_ARG, "ORG", "the org (default: local)" },
	{ "team", 0, CDT_OPT_ARG, "TEAM", "its first team (default: default)" },
	{ "email", 0, CDT_OPT_ARG, "EMAIL",
	  "the org-admin (default: LOGIN@localhost)" },
	{ 0 }
};

static const struct cdt_opt register_opts[] = {
	{ "email", 0, CDT_OPT_ARG, "EMAIL", "the new user" },
	{ "org", 0, CDT_OPT_ARG, "ORG", "your org" },
	{ "team", 0, CDT_OPT_ARG, "TEAM",
	  "the user's team (an org-admin may name a new one)" },
	{ "role", 0, CDT_OPT_ARG, "ROLE", "the user's role (developer)" },
	{ "password-stdin", 0, 0, NULL,
	  "read the user's first password from stdin" },
	{ 0 }
};

static const struct cdt_opt login_opts[] = {
	{ "email", 0, CDT_OPT_ARG, "EMAIL", "who logs in (without it: "
	  "renew the saved login)" },
	{ "org", 0, CDT_OPT_ARG, "ORG", "the org to log in to" },
	{ "password-stdin", 0, 0, NULL, "read the password from stdin" },
	{ "no-save", 0, 0, NULL, "do not save the login in auth.json" },
	{ "show-refresh-token", 0, 0, NULL,
	  "put the refresh token in the auth record" },
	{ 0 }
};

static const struct cdt_opt refresh_opts[] = {
	{ "show-refresh-token", 0, 0, NULL,
	  "put the refresh token in the auth record" },
	{ 0 }
};

static const struct cdt_opt passwd_opts[] = {
	{ "password-stdin", 0, 0, NULL,
	  "read the passwords from stdin, one a line (current, then new)" },
	{ "email", 0, CDT_OPT_ARG, "EMAIL",
	  "set another user's password (org-admin)" },
	{ 0 }
};

static const struct cdt_opt keys_opts[] = {
	{ "name", 0, CDT_OPT_ARG, "NAME",
	  "the key's name (create)" },
	{ "role", 0, CDT_OPT_ARG, "ROLE", "the key's role (create)" },
	{ "expires", 0, CDT_OPT_ARG, "DURATION",
	  "expire after DURATION, as 30d (create)" },
	{ "team", 0, CDT_OPT_ARG, "TEAM", "the key's team (create)" },
	{ "project", 0, CDT_OPT_ARG, "PROJECT",
	  "limit the key to a project (create)" },
	{ 0 }
};

static const struct cdt_opt grant_opts[] = {
	{ "team", 0, CDT_OPT_ARG, "TEAM", "in this team (default: yours)" },
	{ "project", 0, CDT_OPT_ARG, "PROJECT", "for this project only" },
	{ 0 }
};

static const struct cdt_opt audit_opts[] = {
	{ "limit", 0, CDT_OPT_ARG, "N", "the last N events (100)" },
	{ 0 }
};

static const struct cdt_cmd cmds[] = {
	{ "init", "", "create the org, team and admin, and log in", init_opts,
	  cdt_authcmd_init },
	{ "register", "--email E --org O --team T", "add a user",
	  register_opts, cdt_authcmd_register },
	{ "login", "", "log in and print an auth record", login_opts,
	  cdt_authcmd_login },
	{ "refresh", "", "rotate the saved tokens (or those of "
	  "--token-file)", refresh_opts, cdt_authcmd_refresh },
	{ "logout", "", "revoke the saved tokens", NULL, cdt_authcmd_logout },
	{ "whoami", "", "print who is logged in", NULL, cdt_authcmd_whoami },
	{ "token", "", "print the raw access token", NULL,
	  cdt_authcmd_token },
	{ "passwd", "", "set the password", passwd_opts, cdt_authcmd_passwd },
	{ "users", "list|disable [EMAIL]", "list or disable users", NULL,
	  cdt_authcmd_users },
	{ "keys", "create|list|revoke [ID]", "API keys for CI", keys_opts,
	  cdt_authcmd_keys },
	{ "grant", "EMAIL ROLE", "give a role", grant_opts,
	  cdt_authcmd_grant },
	{ "revoke", "EMAIL ROLE", "take a role away", grant_opts,
	  cdt_authcmd_revoke },
	{ "check", "PERMISSION", "exit 0 when allowed, 1 when not",
	  grant_opts, cdt_authcmd_check },
	{ "audit", "", "the security events", audit_opts, cdt_authcmd_audit },
	{ "provider", "set|list|rm [NAME]", "provider API keys", NULL,
	  cdt_authcmd_provider },
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
