/*
 * prov.h - private to the provider module: what lib/provider.c shares
 * with the adapters lib/prov_WIRE.c.  Not for tools.
 *
 * An adapter is a struct prov_wire: build() turns a wire-neutral request
 * into the URL, headers and JSON body of its API; event() takes one
 * parsed SSE/NDJSON event of a 2xx reply and feeds text, usage, model and
 * stop reason into the stream state through the prov_* helpers; done()
 * says why a stream that ended is complete or not.  provider.c does the
 * HTTP, the error statuses, the timing and the classification.
 */
#ifndef CDT_PROV_H
#define CDT_PROV_H

#include "compat.h"
#include <jv.h>
#include "buf.h"
#include "provider.h"
#include "sse.h"

/* Returned by event() to end the transfer after an error event. */
#define PROV_STOP 1000

struct prov_stream;

struct prov_wire {
	const char *name;		/* "anthropic" */
	enum cdt_sse_mode mode;
	const char *accept;		/* Accept header value */
	/*
	 * URL into url, body into *body, header lines into hdrs (one per
	 * line, "Name: value\n"; may hold the key: released as a secret).
	 * model is never NULL.  0, or 65/78 with res classified.
	 */
	int (*build)(const struct cdt_provider *p,
		     const struct cdt_chat_req *req, const char *model,
		     struct cdt_buf *url, jv *body, struct cdt_buf *hdrs,
		     struct cdt_chat_result *res);
	/* One event; data is the parsed JSON (consumed), or jv_invalid()
	 * for non-JSON data (then raw/len hold it).  0 or a stop status. */
	int (*event)(struct prov_stream *s, const char *type, jv data,
		     const char *raw, size_t len);
	/* NULL when the stream ended complete, else what it lacked. */
	const char *(*incomplete)(const struct prov_stream *s);
};

extern const struct prov_wire prov_anthropic;
extern const struct prov_wire prov_openai;
extern const struct prov_wire prov_gemini;
extern const struct prov_wire prov_ollama;

struct prov_stream {
	const struct prov_wire *w;
	struct cdt_chat_result *res;
	cdt_delta_cb cb;
	void *ctx;
	const char *secret;	/* scrubbed from messages; may be NULL */
	struct cdt_sse sse;
	int64_t start_ms;
	struct cdt_buf head;	/* a non-stream body, kept for messages */
	size_t bytes;		/* body bytes seen */
	int cb_status;		/* the delta callback's stop */
	bool sniffed;		/* the first body bytes were looked at */
	bool not_stream;	/* HTML or JSON instead of a stream */
	bool any_event;		/* a well-formed event arrived */
	bool done;		/* the wire's terminator arrived */
	bool failed;		/* res is classified: stop */
	/* Per wire. */
	bool finished;		/* a finish/stop reason arrived */
	bool candidate;		/* gemini: a candidate arrived */
};

/* Text of the reply: kept in res->text and passed to the callback. */
int prov_text(struct prov_stream *s, const char *text, size_t len);
/*
 * An error reported inside the stream, or a malformed one: classify
 * (class from an API error type/code/message when cls is NULL) and stop.
 */
int prov_fail(struct prov_stream *s, const char *cls, const char *type,
	      const char *msg);
/* The class an API error type, code or message means. */
const char *prov_class_of(const char *type, const char *msg);
/* Normalise and store a stop reason. */
void prov_stop_reason(struct cdt_chat_result *res, const char *word);
void prov_model(struct cdt_chat_result *res, jv v);

/*
 * jv helpers: prov_get follows a path of keys and array indexes
 * ("choices.0.delta.content") in a borrowed value and returns a new
 * reference, jv_invalid() when absent.  prov_str gives the string at the
 * path (NULL when none, valid while o lives); prov_long the integer
 * (def when none).
 */
jv prov_get(jv o, const char *path);
const char *prov_str(jv o, const char *path);
long prov_long(jv o, const char *path, long def);

/* Request helpers shared by the adapters. */
/* The messages as [{role, content}] with system placed as asked. */
enum prov_sys {
	PROV_SYS_MESSAGE,	/* a first {"role":"system"} message */
	PROV_SYS_APART,		/* left out: *sys gets it */
};
int prov_messages(const struct cdt_chat_req *req, enum prov_sys how,
		  jv *out, struct cdt_buf *sys, struct cdt_chat_result *res);
/* Set res to a request-building failure: 65 or 78. */
int prov_bad(struct cdt_chat_result *res, int code, const char *fmt, ...)
	CDT_PRINTF(3, 4);
void prov_header(struct cdt_buf *hdrs, const char *name, const char *value);

/* The replay provider (prov_replay.c). */
int prov_replay_send(const struct cdt_provider *p,
		     const struct cdt_chat_req *req, cdt_delta_cb cb,
		     void *ctx, struct cdt_chat_result *res);

int64_t prov_now_ms(void);
/* res->status for a class, given whether output began. */
int prov_status_of(const char *cls, bool output_began);

#include "banned.h"
#endif
