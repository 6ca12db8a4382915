/*
 * routecmd.h - the cdt-route commands (see cdt-route(1)).
 *
 * Each command reads its record stream to the end first, forwarding
 * every record it does not take (send takes `request` and `message`
 * records), and does nothing but forward when an `error` record came in
 * (unless --force): it exits with that record's code.  Then it loads the
 * config, the providers and the routing section, opens the store, and
 * acts through route.h.  status, pick, probe and reset print `route`
 * records; send prints the assistant `message` (and `delta` records with
 * --stream, or as text on a terminal); config prints a `route_config`.
 */
#ifndef CDT_ROUTECMD_H
#define CDT_ROUTECMD_H

#include "tool.h"

int cdt_routecmd_status(struct cdt_ctx *ctx);
int cdt_routecmd_pick(struct cdt_ctx *ctx);
int cdt_routecmd_send(struct cdt_ctx *ctx);
int cdt_routecmd_probe(struct cdt_ctx *ctx);
int cdt_routecmd_reset(struct cdt_ctx *ctx);
int cdt_routecmd_config(struct cdt_ctx *ctx);

#include "banned.h"
#endif
