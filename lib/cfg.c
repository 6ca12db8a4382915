#include "compat.h"
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "store.h"

/* jv numbers are doubles: every integer we store must be exact. */
#define MAX_EXACT ((int64_t)1 << 53)

enum ktype {
	K_MAP,		/* fixed keys, each in the schema */
	K_NAMES,	/* free-form names: providers.NAME */
	K_STRING,
	K_ENUM,		/* a string from choices */
	K_BOOL,
	K_INT,		/* 0 ... 2^53 */
	K_NUMBER,	/* finite, not negative */
	K_DURATION,	/* stored as milliseconds */
	K_SIZE,		/* stored as bytes */
	K_LIST,		/* of strings */
};

struct key {
	const char *pattern;	/* dotted; '*' stands for one name */
	enum ktype type;
	const char *choices;	/* K_ENUM: "a|b|c" */
};

/*
 * The schema: every key cdt reads from its config.  A section is listed
 * before its keys only for readability; lookups match whole patterns.
 */
static const struct key schema[] = {
	{ "defaults", K_MAP, NULL },
	{ "defaults.model", K_STRING, NULL },

	{ "providers", K_NAMES, NULL },
	{ "providers.*", K_MAP, NULL },
	{ "providers.*.type", K_ENUM, "anthropic|openai|gemini|ollama|replay" },
	{ "providers.*.base_url", K_STRING, NULL },
	{ "providers.*.api_key_env", K_STRING, NULL },
	{ "providers.*.api_key_cmd", K_STRING, NULL },
	{ "providers.*.model", K_STRING, NULL },
	{ "providers.*.models", K_LIST, NULL },
	{ "providers.*.price", K_MAP, NULL },
	{ "providers.*.price.input", K_NUMBER, NULL },
	{ "providers.*.price.output", K_NUMBER, NULL },
	{ "providers.*.max_input_tokens", K_INT, NULL },
	{ "providers.*.max_tokens", K_INT, NULL },
	{ "providers.*.timeout", K_DURATION, NULL },
	{ "providers.*.file", K_STRING, NULL },

	{ "routing", K_MAP, NULL },
	{ "routing.priority", K_LIST, NULL },
	{ "routing.strategy", K_ENUM, "priority|cost|latency" },
	{ "routing.fallback_on_error", K_BOOL, NULL },
	{ "routing.fallback_on_timeout", K_BOOL, NULL },
	{ "routing.timeout", K_DURATION, NULL },
	{ "routing.first_byte_timeout", K_DURATION, NULL },
	{ "routing.idle_timeout", K_DURATION, NULL },
	{ "routing.max_retries", K_INT, NULL },
	{ "routing.max_wait", K_DURATION, NULL },
	{ "routing.backoff", K_DURATION, NULL },
	{ "routing.breaker", K_MAP, NULL },
	{ "routing.breaker.threshold", K_INT, NULL },
	{ "routing.breaker.reset", K_DURATION, NULL },
	{ "routing.breaker.max_reset", K_DURATION, NULL },
	{ "routing.tasks", K_NAMES, NULL },
	{ "routing.tasks.*", K_LIST, NULL },

	{ "storage", K_MAP, NULL },
	{ "storage.backend", K_ENUM, "local|s3" },
	{ "storage.root", K_STRING, NULL },
	{ "storage.s3", K_MAP, NULL },
	{ "storage.s3.endpoint", K_STRING, NULL },
	{ "storage.s3.bucket", K_STRING, NULL },
	{ "storage.s3.region", K_STRING, NULL },
	{ "storage.s3.prefix", K_STRING, NULL },
	{ "storage.s3.access_key_env", K_STRING, NULL },
	{ "storage.s3.secret_key_env", K_STRING, NULL },
	{ "storage.s3.path_style", K_BOOL, NULL },

	{ "checkpoint", K_MAP, NULL },
	{ "checkpoint.max_file_size", K_SIZE, NULL },

	{ "store", K_MAP, NULL },
	{ "store.backend", K_ENUM, "sqlite|postgres" },
	{ "store.path", K_STRING, NULL },
	{ "store.url", K_STRING, NULL },
	{ "store.password_file", K_STRING, NULL },
	{ "store.busy_timeout", K_DURATION, NULL },

	{ "sandbox", K_MAP, NULL },
	{ "sandbox.engine", K_ENUM, "bwrap|none" },
	{ "sandbox.type", K_ENUM, "interactive|batch|persistent" },
	{ "sandbox.network", K_BOOL, NULL },
	{ "sandbox.timeout", K_DURATION, NULL },
	{ "sandbox.idle_timeout", K_DURATION, NULL },
	{ "sandbox.max_age", K_DURATION, NULL },
	{ "sandbox.prune_after", K_DURATION, NULL },
	{ "sandbox.limits", K_MAP, NULL },
	{ "sandbox.limits.cpus", K_NUMBER, NULL },
	{ "sandbox.limits.memory", K_SIZE, NULL },
	{ "sandbox.limits.disk", K_SIZE, NULL },
	{ "sandbox.limits.pids", K_INT, NULL },
	{ "sandbox.cgroup", K_ENUM, "auto|none" },
	{ "sandbox.uid", K_INT, NULL },
	{ "sandbox.kill_grace", K_DURATION, NULL },
	{ "sandbox.log_max", K_SIZE, NULL },

	{ "auth", K_MAP, NULL },
	{ "auth.signing_key_file", K_STRING, NULL },
	{ "auth.pepper_file", K_STRING, NULL },
	{ "auth.access_ttl", K_DURATION, NULL },
	{ "auth.refresh_ttl", K_DURATION, NULL },
	{ "auth.key_type", K_ENUM, "hs256|eddsa" },
	{ "auth.quotas", K_MAP, NULL },
	{ "auth.quotas.max_sessions", K_INT, NULL },
};

/* The top level is a map with fixed keys. */
static const struct key top = { "", K_MAP, NULL };

static const struct cdt_cfg_env env_table[] = {
	{ "CDT_PROVIDER", "routing.priority",
	  "comma-separated providers: routing uses only these, in this order" },
	{ "CDT_MODEL", "defaults.model",
	  "the default model, as MODEL or PROVIDER:MODEL" },
	{ "CDT_STORE_URL", "store.url",
	  "the store's URL; postgres:// or postgresql:// selects PostgreSQL" },
	{ "CDT_STORAGE", "storage.backend",
	  "where workspace files live: local or s3" },
	{ "CDT_SANDBOX_ENGINE", "sandbox.engine",
	  "the sandbox for exec: bwrap or none" },
	{ "CDT_SANDBOX_CGROUP", "sandbox.cgroup",
	  "auto, or none: limits by the fallbacks only (tests, diagnosis)" },
	{ NULL, NULL, NULL },
};

const struct cdt_cfg_env *
cdt_cfg_env_table(void)
{
	return env_table;
}

/* --- parsers ----------------------------------------------------------- */

/* Digits only, at least one; no sign, no space. */
static int
parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return EX_DATAERR;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return EX_DATAERR;
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return 0;
}

int
cdt_parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	uint64_t v;
	if (!s || parse_digits(&s, &v))
		return EX_DATAERR;
	for (size_t i = 0; i < CDT_ARRAY_SIZE(units); i++) {
		if (strcmp(s, units[i].unit))
			continue;
		if (v > (uint64_t)INT64_MAX / units[i].ms)
			return EX_DATAERR;
		*ms = (int64_t)(v * units[i].ms);
		return 0;
	}
	return EX_DATAERR;
}

int
cdt_parse_size(const char *s, uint64_t *bytes)
{
	static const char letters[] = "kmgtp";
	uint64_t v;
	int shift = 0;
	if (!s || parse_digits(&s, &v))
		return EX_DATAERR;
	if (*s) {
		const char *l = strchr(letters, *s | 0x20);
		if (l) {
			shift = 10 * (int)(l - letters + 1);
			s++;
			if (*s == 'i' && s[1] == 'B')
				s += 2;
			else if (*s == 'B')
				s++;
		} else if (*s == 'B') {
			s++;
		}
		if (*s)
			return EX_DATAERR;
	}
	if (shift && v > UINT64_MAX >> shift)
		return EX_DATAERR;
	*bytes = v << shift;
	return 0;
}

/* --- schema ------------------------------------------------------------ */

static bool
match(const char *pat, const char *path)
{
	for (;;) {
		size_t pl = strcspn(pat, "."), kl = strcspn(path, ".");
		if (kl == 0)
			return false;
		if (!(pl == 1 && pat[0] == '*') &&
		    (pl != kl || memcmp(pat, path, pl)))
			return false;
		pat += pl;
		path += kl;
		if (!*pat || !*path)
			return !*pat && !*path;
		pat++;
		path++;
	}
}

static const struct key *
lookup(const char *path)
{
	for (size_t i = 0; i < CDT_ARRAY_SIZE(schema); i++)
		if (match(schema[i].pattern, path))
			return &schema[i];
	return NULL;
}

/*
 * Names become record fields, --provider lists and store keys: keep them
 * to a set that needs no quoting anywhere.
 */
static bool
valid_name(const char *s, size_t len)
{
	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* The first segment of path standing for a '*' that is not a name. */
static bool
bad_name(const char *pat, const char *path, const char **seg, size_t *len)
{
	while (*pat && *path) {
		size_t pl = strcspn(pat, "."), kl = strcspn(path, ".");
		if (pl == 1 && pat[0] == '*' && !valid_name(path, kl)) {
			*seg = path;
			*len = kl;
			return true;
		}
		pat += pl + (pat[pl] == '.');
		path += kl + (path[kl] == '.');
	}
	return false;
}

/* "must be " + this. */
static const char *
describe(const struct key *k, char *buf, size_t n)
{
	switch (k->type) {
	case K_MAP:
	case K_NAMES:
		return "a map";
	case K_STRING:
		return "a string";
	case K_BOOL:
		return "true or false";
	case K_INT:
		return "a whole number";
	case K_NUMBER:
		return "a number";
	case K_DURATION:
		return "a duration (30s, 10m, 24h, 30d)";
	case K_SIZE:
		return "a size (512M, 4G)";
	case K_LIST:
		return "a list of strings";
	case K_ENUM:
		break;
	}
	size_t o = 0;
	const char *c = k->choices;
	o += (size_t)snprintf(buf, n, "one of ");
	while (*c && o < n) {
		size_t l = strcspn(c, "|");
		o += (size_t)snprintf(buf + o, n - o, "%s%.*s",
				      c == k->choices ? "" : ", ", (int)l, c);
		c += l + (c[l] == '|');
	}
	return buf;
}

enum conv { CONV_OK, CONV_TYPE, CONV_RANGE, CONV_NUL };

static bool
is_true(const char *s)
{
	return !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
	       !strcasecmp(s, "on");
}

static bool
is_false(const char *s)
{
	return !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
	       !strcasecmp(s, "off");
}

static enum conv
conv_list(const char *s, jv *out)
{
	jv a = jv_array();
	for (;;) {
		size_t l = strcspn(s, ",");
		size_t b = 0, e = l;
		while (b < e && (s[b] == ' ' || s[b] == '\t'))
			b++;
		while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
		if (b == e) {
			jv_free(a);
			return CONV_TYPE;
		}
		a = jv_array_append(a, jv_string_sized(s + b, (int)(e - b)));
		if (!s[l])
			break;
		s += l + 1;
	}
	*out = a;
	return CONV_OK;
}

/*
 * Text (NUL-terminated, len bytes before the terminator unless it holds
 * a NUL) to the typed jv for k.  Lists come as comma-separated text: YAML
 * sequences never get here.
 */
static enum conv
convert(const struct key *k, const char *s, size_t len, jv *out)
{
	if (memchr(s, '\0', len))
		return CONV_NUL;
	switch (k->type) {
	case K_MAP:
	case K_NAMES:
		return CONV_TYPE;
	case K_STRING:
		*out = jv_string_sized(s, (int)len);
		return CONV_OK;
	case K_ENUM:
		for (const char *c = k->choices; *c; ) {
			size_t l = strcspn(c, "|");
			if (l == len && !strncasecmp(c, s, l)) {
				*out = jv_string_sized(c, (int)l);
				return CONV_OK;
			}
			c += l + (c[l] == '|');
		}
		return CONV_TYPE;
	case K_BOOL:
		if (is_true(s) || is_false(s)) {
			*out = is_true(s) ? jv_true() : jv_false();
			return CONV_OK;
		}
		return CONV_TYPE;
	case K_INT: {
		uint64_t v;
		if (parse_digits(&s, &v) || *s)
			return CONV_TYPE;
		if (v > (uint64_t)MAX_EXACT)
			return CONV_RANGE;
		*out = jv_number((double)v);
		return CONV_OK;
	}
	case K_NUMBER: {
		/* strtod alone would take "inf", "nan", hex and spaces. */
		if (!len || strspn(s, "0123456789.eE+-") != len ||
		    !strpbrk(s, "0123456789") || *s == '-')
			return CONV_TYPE;
		char *end;
		errno = 0;
		double d = strtod(s, &end);
		if (*end || end == s)
			return CONV_TYPE;
		if (errno == ERANGE || !isfinite(d) || d > 1e15)
			return CONV_RANGE;
		*out = jv_number(d);
		return CONV_OK;
	}
	case K_DURATION: {
		int64_t ms;
		if (cdt_parse_duration(s, &ms))
			return CONV_TYPE;
		if (ms > MAX_EXACT)
			return CONV_RANGE;
		*out = jv_number((double)ms);
		return CONV_OK;
	}
	case K_SIZE: {
		uint64_t b;
		if (cdt_parse_size(s, &b))
			return CONV_TYPE;
		if (b > (uint64_t)MAX_EXACT)
			return CONV_RANGE;
		*out = jv_number((double)b);
		return CONV_OK;
	}
	case K_LIST:
		return conv_list(s, out);
	}
	return CONV_TYPE;
}

/* "'key' must be a duration (...)" and friends, for a failed convert. */
static void
conv_why(enum conv c, const struct key *k, const char *path, char *buf,
	 size_t n)
{
	char d[256];
	switch (c) {
	case CONV_RANGE:
		snprintf(buf, n, "'%s' is too large", path);
		break;
	case CONV_NUL:
		snprintf(buf, n, "'%s' contains a NUL byte", path);
		break;
	default:
		snprintf(buf, n, "'%s' must be %s", path,
			 describe(k, d, sizeof(d)));
		break;
	}
}

/* --- the tree ---------------------------------------------------------- */

/* Consumes t; a copy of the value at dotted, or jv_invalid(). */
static jv
tree_get(jv t, const char *dotted)
{
	while (jv_get_kind(t) == JV_KIND_OBJECT) {
		size_t l = strcspn(dotted, ".");
		t = jv_object_get(t, jv_string_sized(dotted, (int)l));
		if (!dotted[l])
			return t;
		dotted += l + 1;
	}
	jv_free(t);
	return jv_invalid();
}

/* Consumes t and val; sets dotted, making the maps on the way. */
static jv
tree_set(jv t, const char *dotted, jv val)
{
	size_t l = strcspn(dotted, ".");
	jv key = jv_string_sized(dotted, (int)l);
	if (!dotted[l])
		return jv_object_set(t, key, val);
	jv child = jv_object_get(jv_copy(t), jv_copy(key));
	if (jv_get_kind(child) != JV_KIND_OBJECT) {
		jv_free(child);
		child = jv_object();
	}
	/* Drop t's reference so the child is changed in place. */
	t = jv_object_set(t, jv_copy(key), jv_null());
	return jv_object_set(t, key, tree_set(child, dotted + l + 1, val));
}

static jv
where_entry(jv origin, size_t line, size_t col)
{
	jv a = jv_array();
	a = jv_array_append(a, origin);
	a = jv_array_append(a, jv_number((double)line));
	return jv_array_append(a, jv_number((double)col));
}

/* --- the YAML loader --------------------------------------------------- */

struct loader {
	yaml_parser_t parser;
	const char *name;
	const unsigned char *text;
	size_t len;
	jv origin;		/* name as a jv string, shared by where */
	jv where;
	size_t nodes;
	int depth;
	struct cdt_buf path;	/* dotted path of the key being loaded */
};

static int CDT_PRINTF(3, 4)
fail_at(struct loader *ld, yaml_mark_t m, const char *fmt, ...)
{
	char msg[CDT_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cdt_err(EX_CONFIG, "%s:%zu:%zu: %s", ld->name, m.line + 1,
		       m.column + 1, msg);
}

static int
yaml_fail(struct loader *ld)
{
	yaml_parser_t *p = &ld->parser;
	yaml_mark_t m = p->problem_mark;
	const char *problem = p->problem ? p->problem : "unknown error";
	if (p->error == YAML_MEMORY_ERROR)
		cdt_oom();
	if (p->error == YAML_READER_ERROR) {
		/* The reader gives a byte offset only. */
		size_t off = p->problem_offset < ld->len ? p->problem_offset :
			     ld->len;
		m.line = 0;
		m.column = 0;
		for (size_t i = 0; i < off; i++) {
			if (ld->text[i] == '\n') {
				m.line++;
				m.column = 0;
			} else {
				m.column++;
			}
		}
		if (p->problem_value >= 0)
			return fail_at(ld, m, "bad YAML: %s (#%X)", problem,
				       (unsigned)p->problem_value);
	}
	if (p->context)
		return fail_at(ld, m, "bad YAML: %s (%s)", problem,
			       p->context);
	return fail_at(ld, m, "bad YAML: %s", problem);
}

/*
 * The next event.  On failure (reported) *ev holds nothing, and
 * yaml_event_delete on it stays harmless.
 */
static int
next_event(struct loader *ld, yaml_event_t *ev)
{
	int rc = 0;
	memset(ev, 0, sizeof(*ev));
	if (!yaml_parser_parse(&ld->parser, ev)) {
		memset(ev, 0, sizeof(*ev));
		return yaml_fail(ld);
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		/* Expansion is how a 1 KiB file becomes a billion nodes. */
		rc = fail_at(ld, ev->start_mark,
			     "YAML aliases are not supported");
		break;
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (++ld->nodes > CDT_CFG_MAX_NODES)
			rc = fail_at(ld, ev->start_mark,
				     "more than %d YAML nodes",
				     CDT_CFG_MAX_NODES);
		break;
	default:
		break;
	}
	if (rc) {
		yaml_event_delete(ev);
		memset(ev, 0, sizeof(*ev));
	}
	return rc;
}

static bool
is_null(const yaml_event_t *ev)
{
	if (ev->type != YAML_SCALAR_EVENT ||
	    ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = (const char *)ev->data.scalar.value;
	return ev->data.scalar.length == 0 || !strcmp(s, "~") ||
	       !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int
enter(struct loader *ld, yaml_mark_t m)
{
	if (++ld->depth > CDT_CFG_MAX_DEPTH)
		return fail_at(ld, m, "nested more than %d levels deep",
			       CDT_CFG_MAX_DEPTH);
	return 0;
}

/* Consume the rest of a node whose first event is ev. */
static int
skip_node(struct loader *ld, const yaml_event_t *ev)
{
	if (ev->type != YAML_SEQUENCE_START_EVENT &&
	    ev->type != YAML_MAPPING_START_EVENT)
		return 0;
	int rc = enter(ld, ev->start_mark);
	int level = 1;
	while (!rc && level > 0) {
		yaml_event_t e;
		rc = next_event(ld, &e);
		if (rc)
			break;
		if (e.type == YAML_SEQUENCE_START_EVENT ||
		    e.type == YAML_MAPPING_START_EVENT) {
			level++;
			rc = enter(ld, e.start_mark);
		} else if (e.type == YAML_SEQUENCE_END_EVENT ||
			   e.type == YAML_MAPPING_END_EVENT) {
			level--;
			ld->depth--;
		}
		yaml_event_delete(&e);
	}
	/* On failure the depth no longer matters: the load is over. */
	if (!rc)
		ld->depth--;
	return rc;
}

static int load_map(struct loader *ld, const struct key *k,
		    yaml_mark_t start, jv *out);

static int
type_error(struct loader *ld, const struct key *k, yaml_mark_t m,
	   enum conv c)
{
	char why[512];
	conv_why(c, k, ld->path.buf, why, sizeof(why));
	return fail_at(ld, m, "%s", why);
}

static int
load_list(struct loader *ld, const struct key *k, yaml_mark_t start,
	  jv *out)
{
	int rc = enter(ld, start);
	jv a = jv_array();
	while (!rc) {
		yaml_event_t e;
		rc = next_event(ld, &e);
		if (rc)
			break;
		if (e.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&e);
			break;
		}
		if (e.type != YAML_SCALAR_EVENT || is_null(&e)) {
			rc = type_error(ld, k, e.start_mark, CONV_TYPE);
		} else {
			const char *s = (const char *)e.data.scalar.value;
			size_t len = e.data.scalar.length;
			if (memchr(s, '\0', len))
				rc = type_error(ld, k, e.start_mark, CONV_NUL);
			else
				a = jv_array_append(a,
					jv_string_sized(s, (int)len));
		}
		yaml_event_delete(&e);
	}
	ld->depth--;
	if (rc) {
		jv_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

/*
 * The node whose first event is ev, for key k at ld->path.  *out is
 * jv_invalid() for a YAML null.
 */
static int
load_value(struct loader *ld, const struct key *k, const yaml_event_t *ev,
	   jv *out)
{
	*out = jv_invalid();
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (is_null(ev))
			return 0;
		if (k->type == K_LIST) {
			return type_error(ld, k, ev->start_mark, CONV_TYPE);
		} else {
			enum conv c = convert(k,
				(const char *)ev->data.scalar.value,
				ev->data.scalar.length, out);
			if (c != CONV_OK)
				return type_error(ld, k, ev->start_mark, c);
			return 0;
		}
	case YAML_SEQUENCE_START_EVENT:
		if (k->type != K_LIST)
			return type_error(ld, k, ev->start_mark, CONV_TYPE);
		return load_list(ld, k, ev->start_mark, out);
	case YAML_MAPPING_START_EVENT:
		if (k->type != K_MAP && k->type != K_NAMES)
			return type_error(ld, k, ev->start_mark, CONV_TYPE);
		return load_map(ld, k, ev->start_mark, out);
	default:
		/* The parser gives only node events here. */
		return fail_at(ld, ev->start_mark,
			       "bad YAML: unexpected event");
	}
}

/* One key and its value; MAPPING_START of k's map is consumed. */
static int
load_pair(struct loader *ld, const struct key *k, const yaml_event_t *kev,
	  jv *obj, jv *seen)
{
	int rc = 0;
	yaml_event_t vev;
	memset(&vev, 0, sizeof(vev));
	jv val = jv_invalid();
	const char *name = (const char *)kev->data.scalar.value;
	size_t nlen = kev->data.scalar.length;
	size_t base = ld->path.len;

	if (memchr(name, '\0', nlen)) {
		rc = fail_at(ld, kev->start_mark, "a key contains a NUL byte");
		goto out;
	}
	if ((base && cdt_buf_addch(&ld->path, '.')) ||
	    cdt_buf_add(&ld->path, name, nlen)) {
		rc = fail_at(ld, kev->start_mark, "a key is too long");
		goto out;
	}
	const struct key *child = NULL;
	if (k->type == K_NAMES) {
		if (!valid_name(name, nlen)) {
			rc = fail_at(ld, kev->start_mark,
				     "'%s': a name may hold only letters, "
				     "digits, '-' and '_' (at most 64)",
				     ld->path.buf);
			goto out;
		}
		child = lookup(ld->path.buf);
	} else if (!memchr(name, '.', nlen)) {
		child = lookup(ld->path.buf);
	}
	if (child) {
		jv jk = jv_string_sized(name, (int)nlen);
		if (jv_object_has(jv_copy(*seen), jv_copy(jk))) {
			jv_free(jk);
			rc = fail_at(ld, kev->start_mark, "duplicate key '%s'",
				     ld->path.buf);
			goto out;
		}
		*seen = jv_object_set(*seen, jk, jv_true());
	}

	rc = next_event(ld, &vev);
	if (rc)
		goto out;
	if (!child) {
		cdt_warn("%s:%zu: unknown key '%s'", ld->name,
			 kev->start_mark.line + 1, ld->path.buf);
		rc = skip_node(ld, &vev);
		goto out;
	}
	rc = load_value(ld, child, &vev, &val);
	if (rc || !jv_is_valid(val))
		goto out;
	ld->where = jv_object_set(ld->where, jv_string(ld->path.buf),
				  where_entry(jv_copy(ld->origin),
					      vev.start_mark.line + 1,
					      vev.start_mark.column + 1));
	*obj = jv_object_set(*obj, jv_string_sized(name, (int)nlen), val);
	val = jv_invalid();
out:
	jv_free(val);
	yaml_event_delete(&vev);
	cdt_buf_setlen(&ld->path, base);
	return rc;
}

static int
load_map(struct loader *ld, const struct key *k, yaml_mark_t start,
	 jv *out)
{
	int rc = enter(ld, start);
	jv obj = jv_object();
	jv seen = jv_object();
	while (!rc) {
		yaml_event_t kev;
		rc = next_event(ld, &kev);
		if (rc)
			break;
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		if (kev.type != YAML_SCALAR_EVENT)
			rc = fail_at(ld, kev.start_mark,
				     "a key must be a string");
		else
			rc = load_pair(ld, k, &kev, &obj, &seen);
		yaml_event_delete(&kev);
	}
	ld->depth--;
	jv_free(seen);
	if (rc) {
		jv_free(obj);
		return rc;
	}
	*out = obj;
	return 0;
}

/* The whole stream: one document whose top level is a map, or nothing. */
static int
load_stream(struct loader *ld, jv *tree)
{
	int rc;
	yaml_event_t ev;
	jv t = jv_invalid();

	rc = next_event(ld, &ev);	/* STREAM_START */
	yaml_event_delete(&ev);
	if (rc)
		return rc;
	rc = next_event(ld, &ev);
	if (rc)
		return rc;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		*tree = jv_object();
		return 0;
	}
	yaml_event_delete(&ev);		/* DOCUMENT_START */

	rc = next_event(ld, &ev);
	if (rc)
		return rc;
	if (ev.type == YAML_MAPPING_START_EVENT)
		rc = load_map(ld, &top, ev.start_mark, &t);
	else if (is_null(&ev))
		t = jv_object();
	else
		rc = fail_at(ld, ev.start_mark,
			     "the top level must be a map");
	yaml_event_delete(&ev);
	if (rc)
		goto out;

	rc = next_event(ld, &ev);	/* DOCUMENT_END */
	yaml_event_delete(&ev);
	if (rc)
		goto out;
	rc = next_event(ld, &ev);
	if (!rc && ev.type != YAML_STREAM_END_EVENT)
		rc = fail_at(ld, ev.start_mark, "more than one YAML document");
	yaml_event_delete(&ev);
out:
	if (rc) {
		jv_free(t);
		return rc;
	}
	*tree = t;
	return 0;
}

int
cdt_cfg_load_string(struct cdt_cfg *cfg, const char *name, const char *yaml,
		    size_t len)
{
	struct loader ld;
	jv tree = jv_invalid();
	int rc;

	if (len > CDT_CFG_MAX_BYTES)
		return cdt_err(EX_CONFIG, "config '%s' is larger than 1 MiB",
			       name);
	memset(&ld, 0, sizeof(ld));
	if (!yaml_parser_initialize(&ld.parser))
		cdt_oom();
	yaml_parser_set_input_string(&ld.parser, (const unsigned char *)yaml,
				     len);
	ld.name = name;
	ld.text = (const unsigned char *)yaml;
	ld.len = len;
	ld.origin = jv_string(name);
	ld.where = jv_object();
	cdt_buf_init(&ld.path, CDT_CFG_MAX_BYTES);

	rc = load_stream(&ld, &tree);
	if (!rc) {
		cfg->tree = jv_object_merge_recursive(cfg->tree, tree);
		cfg->where = jv_object_merge(cfg->where, ld.where);
		ld.where = jv_invalid();
	}
	cdt_buf_release(&ld.path);
	jv_free(ld.where);
	jv_free(ld.origin);
	yaml_parser_delete(&ld.parser);
	return rc;
}

/*
 * missing_ok: a file that does not exist is an empty config; env: the
 * variable that named the file, for the hint when it does not exist.
 */
static int
load_path(struct cdt_cfg *cfg, const char *path, bool missing_ok,
	  const char *env)
{
	struct cdt_buf b = CDT_BUF_INIT;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	/* The common case, no config file, costs this one open. */
	if (fd < 0) {
		if (missing_ok && (errno == ENOENT || errno == ENOTDIR))
			return 0;
		if (errno == ENOENT && env)
			return cdt_err(EX_CONFIG, "config '%s' (%s) does not "
				       "exist: create it, or unset %s", path,
				       env, env);
		return cdt_err_errno(EX_CONFIG, "cannot open config '%s'",
				     path);
	}
	cdt_buf_init(&b, CDT_CFG_MAX_BYTES);
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size <= CDT_CFG_MAX_BYTES)
		cdt_buf_grow(&b, (size_t)st.st_size);
	for (;;) {
		char chunk[16384];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cdt_err_errno(EX_CONFIG, "cannot read config '%s'",
					   path);
			goto out;
		}
		if (n == 0)
			break;
		if (cdt_buf_add(&b, chunk, (size_t)n)) {
			rc = cdt_err(EX_CONFIG,
				     "config '%s' is larger than 1 MiB", path);
			goto out;
		}
	}
	rc = cdt_cfg_load_string(cfg, path, b.buf, b.len);
out:
	close(fd);
	cdt_buf_release(&b);
	return rc;
}

int
cdt_cfg_load_file(struct cdt_cfg *cfg, const char *path)
{
	return load_path(cfg, path, false, NULL);
}

/* --- environment and flags --------------------------------------------- */

/*
 * Check text against the schema for dotted and set it in *tree, with its
 * origin in *where.  Prints nothing: *c says what went wrong.
 */
static const struct key *
set_text(jv *tree, jv *where, const char *dotted, const char *text,
	 const char *origin, enum conv *c)
{
	const struct key *k = lookup(dotted);
	jv val = jv_invalid();
	*c = CONV_TYPE;
	if (!k)
		return NULL;
	*c = convert(k, text, strlen(text), &val);
	if (*c != CONV_OK)
		return k;
	*tree = tree_set(*tree, dotted, val);
	*where = jv_object_set(*where, jv_string(dotted),
			       where_entry(jv_string(origin), 0, 0));
	return k;
}

static bool
has_prefix(const char *s, const char *p)
{
	return !strncasecmp(s, p, strlen(p));
}

int
cdt_cfg_load_env(struct cdt_cfg *cfg)
{
	jv tree = jv_copy(cfg->tree);
	jv where = jv_copy(cfg->where);
	int rc = 0;

	for (const struct cdt_cfg_env *e = env_table; e->name; e++) {
		const char *v = getenv(e->name);
		enum conv c;
		if (!v || !*v)
			continue;
		const struct key *k = set_text(&tree, &where, e->key, v,
					       e->name, &c);
		if (c != CONV_OK) {
			char why[512];
			if (!k) {
				rc = cdt_err(EX_SOFTWARE, "%s: no schema key "
					     "'%s'", e->name, e->key);
				goto out;
			}
			conv_why(c, k, e->key, why, sizeof(why));
			/* A string value may hold a secret: never echo one. */
			if (k->type == K_STRING)
				rc = cdt_err(EX_CONFIG, "%s: %s", e->name, why);
			else
				rc = cdt_err(EX_CONFIG, "%s='%.64s': %s",
					     e->name, v, why);
			goto out;
		}
		if (!strcmp(e->name, "CDT_STORE_URL") &&
		    (has_prefix(v, "postgres://") ||
		     has_prefix(v, "postgresql://")))
			set_text(&tree, &where, "store.backend", "postgres",
				 e->name, &c);
	}
	jv_free(cfg->tree);
	jv_free(cfg->where);
	cfg->tree = tree;
	cfg->where = where;
	return 0;
out:
	jv_free(tree);
	jv_free(where);
	return rc;
}

int
cdt_cfg_set(struct cdt_cfg *cfg, const char *dotted, const char *value)
{
	const struct key *k = lookup(dotted);
	const char *seg;
	size_t seglen;
	enum conv c;
	char why[512];

	if (!k)
		return cdt_err(EX_CONFIG, "unknown config key '%s'", dotted);
	if (bad_name(k->pattern, dotted, &seg, &seglen))
		return cdt_err(EX_CONFIG, "'%s': '%.*s' is not a name: a name "
			       "may hold only letters, digits, '-' and '_' "
			       "(at most 64)", dotted, (int)seglen, seg);
	if (k->type == K_MAP || k->type == K_NAMES)
		return cdt_err(EX_CONFIG, "'%s' is a section: set one of its "
			       "keys", dotted);
	set_text(&cfg->tree, &cfg->where, dotted, value, "command line", &c);
	if (c == CONV_OK)
		return 0;
	conv_why(c, k, dotted, why, sizeof(why));
	if (k->type == K_STRING)
		return cdt_err(EX_CONFIG, "bad value for '%s': %s", dotted,
			       why);
	return cdt_err(EX_CONFIG, "bad value '%.64s': %s", value, why);
}

/* --- paths and life cycle ---------------------------------------------- */

static const char *
abs_env(const char *name)
{
	const char *v = getenv(name);
	return v && v[0] == '/' ? v : NULL;
}

static const char *
home_dir(void)
{
	const char *h = abs_env("HOME");
	if (h)
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

const char *
cdt_cfg_home(void)
{
	static char buf[PATH_MAX];
	static const char *home;
	static bool done;
	int n = -1;

	if (done)
		return home;
	done = true;
	const char *v = getenv("CDT_HOME");
	if (v && *v)
		n = snprintf(buf, sizeof(buf), "%s", v);
	else if ((v = abs_env("XDG_DATA_HOME")))
		n = snprintf(buf, sizeof(buf), "%s/cdt", v);
	else if ((v = home_dir()))
		n = snprintf(buf, sizeof(buf), "%s/.local/share/cdt", v);
	if (n > 0 && (size_t)n < sizeof(buf))
		home = buf;
	return home;
}

const char *
cdt_cfg_path(void)
{
	static char buf[PATH_MAX];
	const char *v = getenv("CDT_CONFIG");
	int n = -1;

	if (v && *v)
		return v;
	if ((v = abs_env("XDG_CONFIG_HOME")))
		n = snprintf(buf, sizeof(buf), "%s/cdt/config.yaml", v);
	else if ((v = home_dir()))
		n = snprintf(buf, sizeof(buf), "%s/.config/cdt/config.yaml", v);
	return n > 0 && (size_t)n < sizeof(buf) ? buf : NULL;
}

void
cdt_cfg_init(struct cdt_cfg *cfg)
{
	cfg->tree = jv_object();
	cfg->where = jv_object();
}

void
cdt_cfg_release(struct cdt_cfg *cfg)
{
	jv_free(cfg->tree);
	jv_free(cfg->where);
	cfg->tree = jv_invalid();
	cfg->where = jv_invalid();
}

static bool
is_pg_url(const char *url)
{
	return url && (has_prefix(url, "postgres://") ||
		       has_prefix(url, "postgresql://"));
}

/*
 * store.backend and store.url must agree; store.password_file goes to
 * the store (which reads it at each PostgreSQL open).
 */
static int
store_settings(const struct cdt_cfg *cfg)
{
	const char *backend = cdt_cfg_str(cfg, "store.backend", NULL);
	const char *url = cdt_cfg_str(cfg, "store.url", NULL);

	if (backend && !strcmp(backend, "postgres") && !is_pg_url(url))
		return cdt_cfg_err(cfg, EX_CONFIG, "store.backend", "store."
				   "backend is postgres: store.url must be a "
				   "postgres:// or postgresql:// URL");
	if (backend && !strcmp(backend, "sqlite") && is_pg_url(url))
		return cdt_cfg_err(cfg, EX_CONFIG, "store.backend", "store."
				   "backend is sqlite but store.url is a "
				   "PostgreSQL URL");
	cdt_store_set_password_file(cdt_cfg_str(cfg, "store.password_file",
						NULL));
	return 0;
}

int
cdt_cfg_load(struct cdt_cfg *cfg)
{
	const char *env = getenv("CDT_CONFIG");
	const char *path = cdt_cfg_path();
	jv tree = jv_copy(cfg->tree);
	jv where = jv_copy(cfg->where);
	int rc = 0;

	if (path)
		rc = env && *env ? load_path(cfg, path, false, "CDT_CONFIG")
				 : load_path(cfg, path, true, NULL);
	if (!rc)
		rc = cdt_cfg_load_env(cfg);
	if (rc) {
		/* Undo the file layer when the environment is bad. */
		jv_free(cfg->tree);
		jv_free(cfg->where);
		cfg->tree = tree;
		cfg->where = where;
		return rc;
	}
	jv_free(tree);
	jv_free(where);
	return store_settings(cfg);
}

/* --- getters ----------------------------------------------------------- */

jv
cdt_cfg_get(const struct cdt_cfg *cfg, const char *dotted)
{
	return tree_get(jv_copy(cfg->tree), dotted);
}

/*
 * The value at dotted if it has the kind; the tree keeps it alive, so a
 * string pointer into it stays valid while cfg is unchanged.
 */
static bool
get_kind(const struct cdt_cfg *cfg, const char *dotted, jv_kind kind,
	 jv *out)
{
	jv v = cdt_cfg_get(cfg, dotted);
	if (jv_get_kind(v) != kind) {
		jv_free(v);
		return false;
	}
	*out = v;
	return true;
}

const char *
cdt_cfg_str(const struct cdt_cfg *cfg, const char *dotted, const char *def)
{
	jv v;
	if (!get_kind(cfg, dotted, JV_KIND_STRING, &v))
		return def;
	const char *s = jv_string_value(v);
	jv_free(v);
	return s;
}

bool
cdt_cfg_bool(const struct cdt_cfg *cfg, const char *dotted, bool def)
{
	jv v = cdt_cfg_get(cfg, dotted);
	jv_kind k = jv_get_kind(v);
	jv_free(v);
	if (k == JV_KIND_TRUE)
		return true;
	if (k == JV_KIND_FALSE)
		return false;
	return def;
}

double
cdt_cfg_number(const struct cdt_cfg *cfg, const char *dotted, double def)
{
	jv v;
	if (!get_kind(cfg, dotted, JV_KIND_NUMBER, &v))
		return def;
	double d = jv_number_value(v);
	jv_free(v);
	return d;
}

int64_t
cdt_cfg_int(const struct cdt_cfg *cfg, const char *dotted, int64_t def)
{
	double d = cdt_cfg_number(cfg, dotted, NAN);
	/* Every stored integer is within 2^53; anything else is not ours. */
	if (isnan(d) || d < -(double)MAX_EXACT || d > (double)MAX_EXACT)
		return def;
	return (int64_t)d;
}

int64_t
cdt_cfg_duration_ms(const struct cdt_cfg *cfg, const char *dotted,
		    int64_t def)
{
	return cdt_cfg_int(cfg, dotted, def);
}

uint64_t
cdt_cfg_size(const struct cdt_cfg *cfg, const char *dotted, uint64_t def)
{
	double d = cdt_cfg_number(cfg, dotted, NAN);
	if (isnan(d) || d < 0 || d > (double)MAX_EXACT)
		return def;
	return (uint64_t)d;
}

bool
cdt_cfg_where(const struct cdt_cfg *cfg, const char *dotted,
	      const char **origin, int *line, int *col)
{
	jv e = jv_object_get(jv_copy(cfg->where), jv_string(dotted));
	if (jv_get_kind(e) != JV_KIND_ARRAY ||
	    jv_array_length(jv_copy(e)) != 3) {
		jv_free(e);
		return false;
	}
	jv o = jv_array_get(jv_copy(e), 0);
	jv l = jv_array_get(jv_copy(e), 1);
	jv c = jv_array_get(jv_copy(e), 2);
	*origin = jv_string_value(o);	/* kept alive by cfg->where */
	*line = (int)jv_number_value(l);
	*col = (int)jv_number_value(c);
	jv_free(o);
	jv_free(l);
	jv_free(c);
	jv_free(e);
	return true;
}

int
cdt_cfg_err(const struct cdt_cfg *cfg, int code, const char *dotted,
	    const char *fmt, ...)
{
	char msg[CDT_ERR_MSG_MAX];
	const char *origin;
	int line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!cdt_cfg_where(cfg, dotted, &origin, &line, &col))
		return cdt_err(code, "%s", msg);
	if (line > 0)
		return cdt_err(code, "%s:%d:%d: %s", origin, line, col, msg);
	return cdt_err(code, "%s: %s", origin, msg);
}
