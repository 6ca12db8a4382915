/*
 * chat.h - the cdt-chat commands.
 *
 * Sending a prompt (the default command, and each turn of the -i REPL):
 * the user message is the PROMPT words, then the raw text on stdin, then
 * the context the stdin records carry (file, diff, exec and exit records,
 * in stream order), then the -f files, separated by blank lines.  Every
 * record is forwarded as it is read; message records become the prior
 * turns (replacing the stored history) and continue their conversation.
 * The request goes through cdt_route_send(); the reply streams as delta
 * records (--stream, and always as text on a terminal), then the user and
 * assistant message records follow; with --edit the file and edit
 * records parsed from the reply come last (extract.h).
 *
 * Sending and log resolve the caller once, after stdin is read (an auth
 * record is a source), and pick conversations as that caller may
 * (conv.h); models and extract touch no tenant data and resolve nobody.
 *
 * Nothing is lost: the reply, or the part received, is stored when the
 * reader of stdout goes away, on SIGINT (130 outside the REPL) and when
 * the stream breaks (75); --no-log stores nothing.  Secrets never reach
 * a record or a message: keys stay inside the provider module.
 */
#ifndef CDT_CHAT_H
#define CDT_CHAT_H

#include "tool.h"

/* The default command: one turn, or the REPL with -i. */
int cdt_chat_send(struct cdt_ctx *ctx);
/* log [--conversation ID] [--session ID] */
int cdt_chat_log(struct cdt_ctx *ctx);
/* models: one record per known model (a table on a terminal). */
int cdt_chat_models(struct cdt_ctx *ctx);
/* extract: the --edit parser over reply text or message records. */
int cdt_chat_extract(struct cdt_ctx *ctx);

#include "banned.h"
#endif
