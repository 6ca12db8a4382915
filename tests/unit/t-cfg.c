/* t-cfg - the config loader: schema, types, positions, layers, paths. */
#include "compat.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "tap.h"

static const char good[] =
	"# the examples of the issues, merged\n"
	"providers:\n"
	"  local-gpt:\n"
	"    type: openai                 # anthropic | openai | ...\n"
	"    base_url: http://127.0.0.1:8080/v1\n"
	"    api_key_env: LOCAL_GPT_KEY\n"
	"    api_key_cmd: \"pass show gpt\"\n"
	"    model: gpt-4o-mini\n"
	"    models: [gpt-4o, o3-mini]\n"
	"    price: {input: 0.15, output: 0.60}\n"
	"    max_input_tokens: 128000\n"
	"    max_tokens: 4096\n"
	"    timeout: 30s\n"
	"  tape:\n"
	"    type: Replay\n"
	"    file: tests/fixtures/chat.jsonl\n"
	"routing:\n"
	"  priority: [claude, gemini, kimi, codex]\n"
	"  strategy: priority\n"
	"  fallback_on_error: true\n"
	"  fallback_on_timeout: no\n"
	"  timeout: 30s\n"
	"  first_byte_timeout: 250ms\n"
	"  idle_timeout: 10\n"
	"  max_retries: 2\n"
	"  max_wait: 60s\n"
	"  breaker: {threshold: 5, reset: 30s, max_reset: 5m}\n"
	"  tasks:\n"
	"    code: [claude, codex]\n"
	"    summarize:\n"
	"      - gemini\n"
	"      - kimi\n"
	"storage:\n"
	"  backend: s3\n"
	"  root: /srv/cdt\n"
	"  s3:\n"
	"    endpoint: http://127.0.0.1:4568\n"
	"    bucket: coditect-acme\n"
	"    region: auto\n"
	"    prefix: ''\n"
	"    access_key_env: AWS_ACCESS_KEY_ID\n"
	"    secret_key_env: AWS_SECRET_ACCESS_KEY\n"
	"    path_style: on\n"
	"store:\n"
	"  backend: sqlite\n"
	"  path: /var/lib/cdt/cdt.db\n"
	"  busy_timeout: 10s\n"
	"sandbox:\n"
	"  engine: bwrap\n"
	"  type: interactive\n"
	"  network: off\n"
	"  timeout: 10m\n"
	"  idle_timeout: 30m\n"
	"  max_age: 24h\n"
	"  limits: {cpus: 1.5, memory: 4G, disk: 10GiB, pids: 512}\n"
	"auth:\n"
	"  signing_key_file: /etc/cdt/signing.key\n"
	"  pepper_file: /etc/cdt/pepper\n"
	"  access_ttl: 15m\n"
	"  refresh_ttl: 30d\n"
	"  key_type: eddsa\n"
	"  quotas: {max_sessions: 5}\n"
	"defaults:\n"
	"  model: gpt-4o\n";

static char tmpdir[] = "/tmp/t-cfg.XXXXXX";
static char errpath[256];
static int saved_fd2 = -1;

/* Send stderr to a file, to read warnings back. */
static void
capture_start(void)
{
	fflush(stderr);
	saved_fd2 = dup(2);
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
}

static void
capture_end(char *buf, size_t n)
{
	fflush(stderr);
	dup2(saved_fd2, 2);
	close(saved_fd2);
	int fd = open(errpath, O_RDONLY);
	ssize_t got = fd < 0 ? -1 : read(fd, buf, n - 1);
	buf[got > 0 ? got : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

static const char *
last_msg(void)
{
	struct cdt_err_last e;
	cdt_err_get(&e);
	return e.message;
}

static int
load(struct cdt_cfg *cfg, const char *yaml)
{
	cdt_cfg_init(cfg);
	cdt_err_clear();
	return cdt_cfg_load_string(cfg, "t.yaml", yaml, strlen(yaml));
}

/* A bad config: 78, with want (file:line:col and words) in the message. */
static void
bad(const char *yaml, const char *want, const char *title)
{
	struct cdt_cfg cfg;
	char err[4096];
	capture_start();
	int rc = load(&cfg, yaml);
	capture_end(err, sizeof(err));
	is_int(rc, EX_CONFIG, "%s: 78", title);
	const char *m = last_msg();
	if (!ok(strstr(m, want) != NULL, "%s: message", title))
		diag("got '%s', want '%s'", m, want);
	ok(jv_object_length(jv_copy(cfg.tree)) == 0,
	   "%s: config left empty", title);
	cdt_cfg_release(&cfg);
}

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		diag("cannot write %s", path);
	if (fd >= 0)
		close(fd);
}

static void
clear_env(void)
{
	static const char *const vars[] = {
		"CDT_CONFIG", "CDT_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(vars); i++)
		unsetenv(vars[i]);
	for (const struct cdt_cfg_env *e = cdt_cfg_env_table(); e->name; e++)
		unsetenv(e->name);
}

static void
test_parsers(void)
{
	static const struct {
		const char *s;
		int64_t ms;
	} dur[] = {
		{ "250ms", 250 }, { "30s", 30000 }, { "10m", 600000 },
		{ "24h", 86400000 }, { "30d", 2592000000LL }, { "45", 45000 },
		{ "0", 0 }, { "0ms", 0 }, { "007s", 7000 },
		{ "9223372036854775807ms", INT64_MAX },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(dur); i++) {
		int64_t ms = -1;
		int rc = cdt_parse_duration(dur[i].s, &ms);
		ok(rc == 0 && ms == dur[i].ms, "duration '%s' = %lld",
		   dur[i].s, (long long)dur[i].ms);
	}
	static const char *const baddur[] = {
		"", "-5s", "+5s", "5x", "5 s", " 5s", "5s ", "s", "ms", "5sec",
		"1.5s", "5S", "5ms5", "9223372036854775808ms",
		"9223372036854776s", "106751991167301d",
		"99999999999999999999", "0x10",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(baddur); i++) {
		int64_t ms = 42;
		int rc = cdt_parse_duration(baddur[i], &ms);
		ok(rc == EX_DATAERR && ms == 42, "duration '%s' refused",
		   baddur[i]);
	}
	is_int(cdt_parse_duration(NULL, &(int64_t){ 0 }), EX_DATAERR,
	       "duration NULL refused");

	static const struct {
		const char *s;
		uint64_t b;
	} sz[] = {
		{ "512", 512 }, { "0", 0 }, { "512K", 512ULL << 10 },
		{ "512k", 512ULL << 10 }, { "512M", 512ULL << 20 },
		{ "4G", 4ULL << 30 }, { "1T", 1ULL << 40 },
		{ "2P", 2ULL << 50 }, { "1KiB", 1024 }, { "3MiB", 3ULL << 20 },
		{ "4GB", 4ULL << 30 }, { "100B", 100 },
		{ "16383P", 16383ULL << 50 },
		{ "18446744073709551615", UINT64_MAX },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(sz); i++) {
		uint64_t b = 7;
		int rc = cdt_parse_size(sz[i].s, &b);
		ok(rc == 0 && b == sz[i].b, "size '%s' = %llu", sz[i].s,
		   (unsigned long long)sz[i].b);
	}
	static const char *const badsz[] = {
		"", "-1", "+1", "4X", "4 G", "4G ", " 4G", "G", "KiB", "4Gi",
		"4GiBB", "4Gb", "1.5G", "16384P", "18446744073709551616",
		"17179869184G", "4E",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(badsz); i++) {
		uint64_t b = 7;
		int rc = cdt_parse_size(badsz[i], &b);
		ok(rc == EX_DATAERR && b == 7, "size '%s' refused", badsz[i]);
	}
	is_int(cdt_parse_size(NULL, &(uint64_t){ 0 }), EX_DATAERR,
	       "size NULL refused");
}

static void
test_good(void)
{
	struct cdt_cfg cfg;
	char err[4096];
	capture_start();
	int rc = load(&cfg, good);
	capture_end(err, sizeof(err));
	is_int(rc, 0, "the issues' config loads");
	is_str(err, "", "and warns about nothing");

	is_str(cdt_cfg_str(&cfg, "providers.local-gpt.type", NULL), "openai",
	       "enum");
	is_str(cdt_cfg_str(&cfg, "providers.tape.type", NULL), "replay",
	       "enum in any case, stored canonical");
	is_str(cdt_cfg_str(&cfg, "providers.local-gpt.api_key_cmd", NULL),
	       "pass show gpt", "quoted string");
	ok(cdt_cfg_number(&cfg, "providers.local-gpt.price.input", 0) == 0.15,
	   "number in a flow map");
	ok(cdt_cfg_number(&cfg, "providers.local-gpt.price.output", 0) == 0.6,
	   "number 0.60");
	is_int(cdt_cfg_int(&cfg, "providers.local-gpt.max_input_tokens", 0),
	       128000, "int");
	is_int(cdt_cfg_duration_ms(&cfg, "providers.local-gpt.timeout", 0),
	       30000, "duration in ms");
	jv models = cdt_cfg_get(&cfg, "providers.local-gpt.models");
	ok(jv_get_kind(models) == JV_KIND_ARRAY &&
	   jv_array_length(jv_copy(models)) == 2, "flow list");
	jv_free(models);

	jv prio = cdt_cfg_get(&cfg, "routing.priority");
	jv want = jv_parse("[\"claude\",\"gemini\",\"kimi\",\"codex\"]");
	ok(jv_equal(prio, want), "routing.priority list");
	is_str(cdt_cfg_str(&cfg, "routing.strategy", NULL), "priority",
	       "strategy");
	ok(cdt_cfg_bool(&cfg, "routing.fallback_on_error", false),
	   "bool true");
	ok(!cdt_cfg_bool(&cfg, "routing.fallback_on_timeout", true),
	   "bool no");
	is_int(cdt_cfg_duration_ms(&cfg, "routing.first_byte_timeout", 0),
	       250, "250ms");
	is_int(cdt_cfg_duration_ms(&cfg, "routing.idle_timeout", 0), 10000,
	       "bare integer duration is seconds");
	is_int(cdt_cfg_int(&cfg, "routing.max_retries", 9), 2, "max_retries");
	is_int(cdt_cfg_int(&cfg, "routing.breaker.threshold", 0), 5,
	       "breaker.threshold");
	is_int(cdt_cfg_duration_ms(&cfg, "routing.breaker.max_reset", 0),
	       300000, "breaker.max_reset 5m");
	jv tasks = cdt_cfg_get(&cfg, "routing.tasks.summarize");
	want = jv_parse("[\"gemini\",\"kimi\"]");
	ok(jv_equal(tasks, want), "block list under a task name");

	is_str(cdt_cfg_str(&cfg, "storage.backend", NULL), "s3", "storage");
	is_str(cdt_cfg_str(&cfg, "storage.s3.prefix", "x"), "",
	       "empty quoted string is a string");
	ok(cdt_cfg_bool(&cfg, "storage.s3.path_style", false), "bool on");
	is_int(cdt_cfg_duration_ms(&cfg, "store.busy_timeout", 0), 10000,
	       "store.busy_timeout");
	ok(!cdt_cfg_bool(&cfg, "sandbox.network", true), "bool off");
	ok(cdt_cfg_number(&cfg, "sandbox.limits.cpus", 0) == 1.5, "cpus");
	ok(cdt_cfg_size(&cfg, "sandbox.limits.memory", 0) == 4ULL << 30,
	   "size 4G in bytes");
	ok(cdt_cfg_size(&cfg, "sandbox.limits.disk", 0) == 10ULL << 30,
	   "size 10GiB in bytes");
	is_int(cdt_cfg_int(&cfg, "sandbox.limits.pids", 0), 512, "pids");
	is_int(cdt_cfg_duration_ms(&cfg, "auth.refresh_ttl", 0),
	       30LL * 86400000, "30d");
	is_str(cdt_cfg_str(&cfg, "auth.key_type", NULL), "eddsa", "key_type");
	is_int(cdt_cfg_int(&cfg, "auth.quotas.max_sessions", 0), 5,
	       "auth.quotas.max_sessions");
	is_str(cdt_cfg_str(&cfg, "defaults.model", NULL), "gpt-4o",
	       "defaults.model");

	/* Stored typed: the tree holds numbers and booleans, not text. */
	jv v = cdt_cfg_get(&cfg, "routing.breaker.reset");
	ok(jv_get_kind(v) == JV_KIND_NUMBER && jv_number_value(v) == 30000,
	   "tree keeps a duration as a number of ms");
	jv_free(v);
	v = cdt_cfg_get(&cfg, "routing.fallback_on_error");
	ok(jv_get_kind(v) == JV_KIND_TRUE, "tree keeps a bool as true");
	jv_free(v);

	/* Defaults and missing keys. */
	v = cdt_cfg_get(&cfg, "routing.nope");
	ok(!jv_is_valid(v), "missing key: jv_invalid");
	jv_free(v);
	v = cdt_cfg_get(&cfg, "routing.priority.x");
	ok(!jv_is_valid(v), "path through a list: jv_invalid");
	jv_free(v);
	is_str(cdt_cfg_str(&cfg, "store.url", "def"), "def", "str default");
	is_str(cdt_cfg_str(&cfg, "routing.max_retries", "def"), "def",
	       "str of a number: default");
	ok(cdt_cfg_bool(&cfg, "nope.nope", true), "bool default");
	is_int(cdt_cfg_int(&cfg, "providers.x.max_tokens", -3), -3,
	       "int default");
	is_int(cdt_cfg_duration_ms(&cfg, "sandbox.nope", 77), 77,
	       "duration default");
	ok(cdt_cfg_size(&cfg, "sandbox.limits.nope", 5) == 5, "size default");

	/* Positions. */
	const char *origin = NULL;
	int line = 0, col = 0;
	ok(cdt_cfg_where(&cfg, "routing.breaker.reset", &origin, &line, &col),
	   "where: known");
	is_str(origin, "t.yaml", "where: file");
	is_int(line, 27, "where: line");
	is_int(col, 34, "where: column of the value");
	ok(cdt_cfg_where(&cfg, "providers.tape", &origin, &line, &col) &&
	   line == 15, "where: a map has a position too");
	ok(!cdt_cfg_where(&cfg, "routing.nope", &origin, &line, &col),
	   "where: unknown key");
	cdt_err_quiet(true);
	is_int(cdt_cfg_err(&cfg, EX_CONFIG, "routing.priority",
			   "names unknown provider '%s'", "kimi"),
	       EX_CONFIG, "cdt_cfg_err returns the code");
	is_str(last_msg(), "t.yaml:18:13: names unknown provider 'kimi'",
	       "cdt_cfg_err names file:line:col");
	cdt_cfg_err(&cfg, EX_CONFIG, "nope", "plain");
	is_str(last_msg(), "plain", "cdt_cfg_err without a position");
	cdt_err_quiet(false);
	cdt_cfg_release(&cfg);
}

static void
nested(char *out, int levels)
{
	size_t n = 0;
	memcpy(out, "zz: ", 4);
	n = 4;
	for (int i = 0; i < levels; i++)
		out[n++] = '[';
	for (int i = 0; i < levels; i++)
		out[n++] = ']';
	out[n++] = '\n';
	out[n] = '\0';
}

static void
test_bad(void)
{
	cdt_err_quiet(true);
	bad("routing:\n  timeout: 5x\n",
	    "t.yaml:2:12: 'routing.timeout' must be a duration (30s, 10m, "
	    "24h, 30d)", "bad duration");
	bad("routing:\n  timeout: -5s\n",
	    "t.yaml:2:12: 'routing.timeout' must be a duration",
	    "negative duration");
	bad("routing:\n  timeout: 99999999999999999999s\n",
	    "t.yaml:2:12: 'routing.timeout' must be a duration",
	    "overflowing duration");
	bad("routing:\n  timeout: 200000000d\n",
	    "t.yaml:2:12: 'routing.timeout' is too large",
	    "duration beyond 2^53 ms");
	bad("sandbox:\n  limits: {memory: 4X}\n",
	    "t.yaml:2:20: 'sandbox.limits.memory' must be a size (512M, 4G)",
	    "bad size");
	bad("sandbox:\n  limits:\n    disk: 9P\n",
	    "t.yaml:3:11: 'sandbox.limits.disk' is too large",
	    "size beyond 2^53 bytes");
	bad("routing:\n  fallback_on_error: maybe\n",
	    "t.yaml:2:22: 'routing.fallback_on_error' must be true or false",
	    "bad bool");
	bad("routing:\n  max_retries: two\n",
	    "t.yaml:2:16: 'routing.max_retries' must be a whole number",
	    "bad int");
	bad("routing:\n  max_retries: -1\n",
	    "t.yaml:2:16: 'routing.max_retries' must be a whole number",
	    "negative int");
	bad("routing:\n  max_retries: 2.5\n",
	    "'routing.max_retries' must be a whole number", "fractional int");
	bad("routing:\n  max_retries: 9007199254740993\n",
	    "t.yaml:2:16: 'routing.max_retries' is too large", "huge int");
	bad("providers:\n  x:\n    price: {input: cheap}\n",
	    "t.yaml:3:20: 'providers.x.price.input' must be a number",
	    "bad number");
	bad("providers:\n  x:\n    price: {input: nan}\n",
	    "'providers.x.price.input' must be a number", "nan");
	bad("providers:\n  x:\n    price: {input: -1}\n",
	    "'providers.x.price.input' must be a number", "negative number");
	bad("providers:\n  x:\n    price: {input: 1e400}\n",
	    "t.yaml:3:20: 'providers.x.price.input' is too large",
	    "number overflow");
	bad("providers:\n  x:\n    model: {a: 1}\n",
	    "t.yaml:3:12: 'providers.x.model' must be a string",
	    "map for a string");
	bad("providers:\n  x:\n    model: [a]\n",
	    "t.yaml:3:12: 'providers.x.model' must be a string",
	    "list for a string");
	bad("providers:\n  x:\n    model: \"gpt\\0x\"\n",
	    "t.yaml:3:12: 'providers.x.model' contains a NUL byte",
	    "NUL in a string");
	bad("routing:\n  priority: claude\n",
	    "t.yaml:2:13: 'routing.priority' must be a list of strings",
	    "scalar for a list");
	bad("routing:\n  priority: [claude, [x]]\n",
	    "t.yaml:2:22: 'routing.priority' must be a list of strings",
	    "nested list");
	bad("routing:\n  priority:\n    - a\n    -\n",
	    "t.yaml:4:6: 'routing.priority' must be a list of strings",
	    "null list element");
	bad("routing:\n  tasks:\n    code: {a: b}\n",
	    "t.yaml:3:11: 'routing.tasks.code' must be a list of strings",
	    "map for a task list");
	bad("routing: 5\n", "t.yaml:1:10: 'routing' must be a map",
	    "scalar for a section");
	bad("routing:\n  breaker: [1]\n",
	    "t.yaml:2:12: 'routing.breaker' must be a map",
	    "list for a section");
	bad("providers: [a, b]\n", "t.yaml:1:12: 'providers' must be a map",
	    "list for a map of names");
	bad("routing:\n  strategy: fastest\n",
	    "t.yaml:2:13: 'routing.strategy' must be one of priority, cost, "
	    "latency", "bad enum");
	bad("providers:\n  x:\n    type: claude\n",
	    "t.yaml:3:11: 'providers.x.type' must be one of anthropic, "
	    "openai, gemini, ollama, replay", "bad provider type");
	bad("storage: {backend: ftp}\n",
	    "t.yaml:1:20: 'storage.backend' must be one of local, s3",
	    "bad storage backend");
	bad("store: {backend: mysql}\n",
	    "'store.backend' must be one of sqlite, postgres", "bad store");
	bad("sandbox: {engine: docker}\n",
	    "'sandbox.engine' must be one of bwrap, none", "bad engine");
	bad("sandbox: {type: forever}\n",
	    "'sandbox.type' must be one of interactive, batch, persistent",
	    "bad sandbox type");
	bad("auth: {key_type: rs256}\n",
	    "'auth.key_type' must be one of hs256, eddsa", "bad key type");
	bad("providers:\n  my.gpt:\n    type: openai\n",
	    "t.yaml:2:3: 'providers.my.gpt': a name may hold only",
	    "dotted provider name");
	bad("routing:\n  tasks:\n    \"a b\": [x]\n",
	    "t.yaml:3:5: 'routing.tasks.a b': a name may hold only",
	    "task name with a space");

	/* The file as a whole. */
	bad("routing:\n  priority: [a, b\n", "t.yaml:3:1: bad YAML: did not "
	    "find expected ',' or ']' (while parsing a flow sequence)",
	    "malformed YAML");
	bad("a: b: c\n", "t.yaml:1:5: bad YAML: mapping values are not "
	    "allowed in this context", "mapping value in a scalar");
	bad("routing:\n\ttimeout: 1s\n", "t.yaml:2:1: bad YAML: ",
	    "tab indentation");
	bad("routing:\n  timeout: \"\xff\"\n", "t.yaml:2:13: bad YAML: ",
	    "invalid UTF-8");
	bad("- a\n- b\n", "t.yaml:1:1: the top level must be a map",
	    "top level list");
	bad("just text\n", "t.yaml:1:1: the top level must be a map",
	    "top level scalar");
	bad("routing: {}\n---\nstore: {}\n",
	    "t.yaml:2:1: more than one YAML document", "two documents");
	bad("routing:\n  timeout: 1s\n  timeout: 2s\n",
	    "t.yaml:3:3: duplicate key 'routing.timeout'", "duplicate key");
	bad("routing: {}\nrouting: {}\n", "t.yaml:2:1: duplicate key "
	    "'routing'", "duplicate section");
	bad("routing:\n  tasks:\n    a: [x]\n    a: [y]\n",
	    "t.yaml:4:5: duplicate key 'routing.tasks.a'", "duplicate name");
	bad("routing:\n  ? [a]\n  : b\n", "t.yaml:2:5: a key must be a string",
	    "complex key");
	bad("x: &a [1]\nrouting:\n  priority: *a\n",
	    "t.yaml:3:13: YAML aliases are not supported", "alias");
	bad("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\n",
	    "t.yaml:2:8: YAML aliases are not supported",
	    "billion laughs in an unknown key");

	/*
	 * Nesting: the top map and 32 flow lists in an unknown key are 33
	 * levels; the top map and 31 lists are the most allowed.
	 */
	char deep[128];
	nested(deep, 32);
	bad(deep, "t.yaml:1:36: nested more than 32 levels deep",
	    "nesting cap");
	nested(deep, 31);
	struct cdt_cfg cfg;
	capture_start();
	int rc = load(&cfg, deep);
	char err[1024];
	capture_end(err, sizeof(err));
	is_int(rc, 0, "32 levels load");
	ok(strstr(err, "t.yaml:1: unknown key 'zz'") != NULL,
	   "with a warning");
	cdt_cfg_release(&cfg);

	/* Size cap. */
	size_t big = CDT_CFG_MAX_BYTES + 1;
	char *huge = cdt_xmalloc(big);
	memset(huge, '#', big);
	cdt_cfg_init(&cfg);
	cdt_err_clear();
	is_int(cdt_cfg_load_string(&cfg, "big.yaml", huge, big), EX_CONFIG,
	       "a config over 1 MiB: 78");
	ok(strstr(last_msg(), "'big.yaml' is larger than 1 MiB") != NULL,
	   "size cap message");
	huge[0] = '\n';
	is_int(cdt_cfg_load_string(&cfg, "big.yaml", huge, big - 1), 0,
	       "1 MiB of comments is fine");
	cdt_cfg_release(&cfg);
	free(huge);

	/* Node cap. */
	struct cdt_buf b = CDT_BUF_INIT;
	cdt_buf_addstr(&b, "zz: [");
	for (int i = 0; i < CDT_CFG_MAX_NODES; i++)
		cdt_buf_addstr(&b, "a,");
	cdt_buf_addstr(&b, "]\n");
	cdt_cfg_init(&cfg);
	capture_start();
	rc = cdt_cfg_load_string(&cfg, "t.yaml", b.buf, b.len);
	capture_end(err, sizeof(err));
	is_int(rc, EX_CONFIG, "too many nodes: 78");
	ok(strstr(last_msg(), "more than 65536 YAML nodes") != NULL,
	   "node cap message");
	cdt_cfg_release(&cfg);
	cdt_buf_release(&b);
	cdt_err_quiet(false);
}

static void
test_empty_and_null(void)
{
	static const char *const empties[] = {
		"", "\n", "# only a comment\n", "---\n", "---\n...\n", "~\n",
		"routing:\n", "routing: ~\nstore: null\n",
		"routing:\n  timeout:\n  priority:\n",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(empties); i++) {
		struct cdt_cfg cfg;
		int rc = load(&cfg, empties[i]);
		jv t = cdt_cfg_get(&cfg, "routing.timeout");
		ok(rc == 0 && !jv_is_valid(t), "empty config %zu loads", i);
		jv_free(t);
		cdt_cfg_release(&cfg);
	}
}

static void
test_unknown(void)
{
	struct cdt_cfg cfg;
	char err[4096];
	capture_start();
	int rc = load(&cfg,
		      "routing:\n"
		      "  timeout: 1s\n"
		      "  colour: blue\n"
		      "  breaker:\n"
		      "    treshold: 5\n"
		      "providers:\n"
		      "  x:\n"
		      "    type: openai\n"
		      "    api.key: 1\n"
		      "surprise:\n"
		      "  deep: {nested: [1, 2, {x: y}]}\n");
	capture_end(err, sizeof(err));
	is_int(rc, 0, "unknown keys are not an error");
	ok(strstr(err, "warning: t.yaml:3: unknown key 'routing.colour'\n"),
	   "warns with the line");
	ok(strstr(err, "t.yaml:5: unknown key 'routing.breaker.treshold'"),
	   "warns about a nested typo");
	ok(strstr(err, "t.yaml:9: unknown key 'providers.x.api.key'"),
	   "warns about a dotted key");
	ok(strstr(err, "t.yaml:10: unknown key 'surprise'"),
	   "warns about an unknown section once");
	ok(!strstr(err, "nested"), "and not about what is inside it");
	jv v = cdt_cfg_get(&cfg, "routing.colour");
	ok(!jv_is_valid(v), "unknown keys are dropped");
	jv_free(v);
	is_int(cdt_cfg_duration_ms(&cfg, "routing.timeout", 0), 1000,
	       "known keys beside them load");
	cdt_cfg_release(&cfg);
}

static void
test_merge(void)
{
	struct cdt_cfg cfg;
	cdt_err_quiet(true);
	load(&cfg, "routing:\n  timeout: 1s\n  priority: [a, b]\n"
		   "providers:\n  x: {model: m1}\n");
	int rc = cdt_cfg_load_string(&cfg, "two.yaml",
		"routing:\n  priority: [c]\nproviders:\n  y: {model: m2}\n",
		strlen("routing:\n  priority: [c]\nproviders:\n"
		       "  y: {model: m2}\n"));
	is_int(rc, 0, "a second file loads over the first");
	is_int(cdt_cfg_duration_ms(&cfg, "routing.timeout", 0), 1000,
	       "maps merge key by key");
	jv p = cdt_cfg_get(&cfg, "routing.priority");
	ok(jv_equal(p, jv_parse("[\"c\"]")), "lists are replaced");
	is_str(cdt_cfg_str(&cfg, "providers.x.model", NULL), "m1",
	       "names from the first file stay");
	is_str(cdt_cfg_str(&cfg, "providers.y.model", NULL), "m2",
	       "names from the second file are added");
	const char *origin;
	int line, col;
	ok(cdt_cfg_where(&cfg, "routing.priority", &origin, &line, &col) &&
	   !strcmp(origin, "two.yaml") && line == 2,
	   "where follows the value");

	rc = cdt_cfg_load_string(&cfg, "bad.yaml", "routing: {timeout: x}\n",
				 strlen("routing: {timeout: x}\n"));
	is_int(rc, EX_CONFIG, "a bad third file: 78");
	is_int(cdt_cfg_duration_ms(&cfg, "routing.timeout", 0), 1000,
	       "and the config is unchanged");
	cdt_cfg_release(&cfg);
	cdt_err_quiet(false);
}

static void
test_set(void)
{
	struct cdt_cfg cfg;
	cdt_err_quiet(true);
	load(&cfg, "routing:\n  timeout: 1s\n");
	is_int(cdt_cfg_set(&cfg, "routing.timeout", "2m"), 0, "set duration");
	is_int(cdt_cfg_duration_ms(&cfg, "routing.timeout", 0), 120000,
	       "set wins over the file");
	const char *origin;
	int line, col;
	ok(cdt_cfg_where(&cfg, "routing.timeout", &origin, &line, &col) &&
	   !strcmp(origin, "command line") && line == 0,
	   "where: command line");
	is_int(cdt_cfg_set(&cfg, "routing.priority", " a, b ,c"), 0,
	       "set list");
	jv p = cdt_cfg_get(&cfg, "routing.priority");
	ok(jv_equal(p, jv_parse("[\"a\",\"b\",\"c\"]")),
	   "comma list, trimmed");
	is_int(cdt_cfg_set(&cfg, "providers.new-one.type", "ollama"), 0,
	       "set a key of a new provider");
	is_str(cdt_cfg_str(&cfg, "providers.new-one.type", NULL), "ollama",
	       "new provider made");
	is_int(cdt_cfg_set(&cfg, "sandbox.limits.memory", "512M"), 0,
	       "set size");
	ok(cdt_cfg_size(&cfg, "sandbox.limits.memory", 0) == 512ULL << 20,
	   "size in bytes");
	is_int(cdt_cfg_set(&cfg, "sandbox.network", "yes"), 0, "set bool");
	ok(cdt_cfg_bool(&cfg, "sandbox.network", false), "bool set");

	is_int(cdt_cfg_set(&cfg, "routing.timeout", "soon"), EX_CONFIG,
	       "set bad duration: 78");
	is_str(last_msg(), "bad value 'soon': 'routing.timeout' must be a "
	       "duration (30s, 10m, 24h, 30d)", "set bad duration message");
	is_int(cdt_cfg_duration_ms(&cfg, "routing.timeout", 0), 120000,
	       "a refused set changes nothing");
	is_int(cdt_cfg_set(&cfg, "routing.colour", "blue"), EX_CONFIG,
	       "set unknown key: 78");
	is_str(last_msg(), "unknown config key 'routing.colour'",
	       "unknown key message");
	is_int(cdt_cfg_set(&cfg, "routing", "x"), EX_CONFIG,
	       "set a section: 78");
	is_int(cdt_cfg_set(&cfg, "providers.x", "x"), EX_CONFIG,
	       "set a provider: 78");
	is_int(cdt_cfg_set(&cfg, "providers.a b.type", "openai"), EX_CONFIG,
	       "set with a bad name: 78");
	ok(strstr(last_msg(), "'a b' is not a name") != NULL,
	   "bad name message");
	is_int(cdt_cfg_set(&cfg, "routing..timeout", "1s"), EX_CONFIG,
	       "empty segment: 78");
	is_int(cdt_cfg_set(&cfg, "routing.priority", "a,,b"), EX_CONFIG,
	       "empty list element: 78");
	is_int(cdt_cfg_set(&cfg, "routing.max_retries", "-1"), EX_CONFIG,
	       "negative int: 78");
	is_int(cdt_cfg_set(&cfg, "routing.strategy", "COST"), 0,
	       "enum in upper case");
	is_str(cdt_cfg_str(&cfg, "routing.strategy", NULL), "cost",
	       "stored canonical");
	cdt_cfg_release(&cfg);
	cdt_err_quiet(false);
}

static void
test_env(void)
{
	struct cdt_cfg cfg;
	cdt_err_quiet(true);
	clear_env();

	const struct cdt_cfg_env *t = cdt_cfg_env_table();
	size_t n = 0;
	for (; t[n].name; n++)
		ok(t[n].key && t[n].help && *t[n].help,
		   "env table: %s has a key and help", t[n].name);
	is_int(n, 6, "env table: six overrides, NULL-terminated");

	load(&cfg, "routing: {priority: [a, b]}\nstorage: {backend: local}\n"
		   "store: {backend: sqlite, path: /x.db}\n");
	setenv("CDT_PROVIDER", "claude, gemini", 1);
	setenv("CDT_MODEL", "claude:sonnet", 1);
	setenv("CDT_STORE_URL", "postgresql://u@db/cdt", 1);
	setenv("CDT_STORAGE", "s3", 1);
	setenv("CDT_SANDBOX_ENGINE", "none", 1);
	setenv("CDT_SANDBOX_CGROUP", "none", 1);
	is_int(cdt_cfg_load_env(&cfg), 0, "env overrides apply");
	jv p = cdt_cfg_get(&cfg, "routing.priority");
	ok(jv_equal(p, jv_parse("[\"claude\",\"gemini\"]")),
	   "CDT_PROVIDER: a list over the file's");
	is_str(cdt_cfg_str(&cfg, "defaults.model", NULL), "claude:sonnet",
	       "CDT_MODEL");
	is_str(cdt_cfg_str(&cfg, "store.url", NULL), "postgresql://u@db/cdt",
	       "CDT_STORE_URL");
	is_str(cdt_cfg_str(&cfg, "store.backend", NULL), "postgres",
	       "CDT_STORE_URL selects postgres");
	is_str(cdt_cfg_str(&cfg, "storage.backend", NULL), "s3",
	       "CDT_STORAGE");
	is_str(cdt_cfg_str(&cfg, "sandbox.engine", NULL), "none",
	       "CDT_SANDBOX_ENGINE");
	is_str(cdt_cfg_str(&cfg, "sandbox.cgroup", NULL), "none",
	       "CDT_SANDBOX_CGROUP");
	const char *origin;
	int line, col;
	ok(cdt_cfg_where(&cfg, "storage.backend", &origin, &line, &col) &&
	   !strcmp(origin, "CDT_STORAGE"), "where: the variable");
	cdt_cfg_err(&cfg, EX_CONFIG, "storage.backend", "no bucket");
	is_str(last_msg(), "CDT_STORAGE: no bucket",
	       "cdt_cfg_err names the variable");
	cdt_cfg_release(&cfg);

	clear_env();
	load(&cfg, "store: {backend: sqlite}\n");
	setenv("CDT_STORE_URL", "file:/tmp/x.db", 1);
	setenv("CDT_PROVIDER", "", 1);
	is_int(cdt_cfg_load_env(&cfg), 0, "a non-postgres URL");
	is_str(cdt_cfg_str(&cfg, "store.backend", NULL), "sqlite",
	       "leaves the backend");
	p = cdt_cfg_get(&cfg, "routing.priority");
	ok(!jv_is_valid(p), "an empty variable is unset");
	cdt_cfg_release(&cfg);

	static const struct {
		const char *var, *val, *want;
	} badenv[] = {
		{ "CDT_STORAGE", "ftp", "CDT_STORAGE='ftp': 'storage.backend' "
		  "must be one of local, s3" },
		{ "CDT_SANDBOX_ENGINE", "docker", "CDT_SANDBOX_ENGINE='docker'"
		  ": 'sandbox.engine' must be one of bwrap, none" },
		{ "CDT_PROVIDER", "a,,b", "CDT_PROVIDER='a,,b': "
		  "'routing.priority' must be a list of strings" },
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(badenv); i++) {
		clear_env();
		load(&cfg, "storage: {backend: local}\n");
		setenv("CDT_MODEL", "m", 1);
		setenv(badenv[i].var, badenv[i].val, 1);
		is_int(cdt_cfg_load_env(&cfg), EX_CONFIG, "bad %s: 78",
		       badenv[i].var);
		is_str(last_msg(), badenv[i].want, "bad %s: message",
		       badenv[i].var);
		is_str(cdt_cfg_str(&cfg, "storage.backend", NULL), "local",
		       "bad %s: config unchanged", badenv[i].var);
		ok(!cdt_cfg_str(&cfg, "defaults.model", NULL),
		   "bad %s: no partial environment layer", badenv[i].var);
		cdt_cfg_release(&cfg);
	}
	clear_env();
	cdt_err_quiet(false);
}

static void
test_load(void)
{
	struct cdt_cfg cfg;
	char path[512], dir[512];
	cdt_err_quiet(true);
	clear_env();

	/* $CDT_CONFIG names a missing file: 78 naming it. */
	snprintf(path, sizeof(path), "%s/nope.yaml", tmpdir);
	setenv("CDT_CONFIG", path, 1);
	cdt_cfg_init(&cfg);
	is_int(cdt_cfg_load(&cfg), EX_CONFIG, "missing $CDT_CONFIG: 78");
	ok(strstr(last_msg(), path) != NULL &&
	   strstr(last_msg(), "does not exist: create it, or unset "
		  "CDT_CONFIG"), "names the file, why and what to do");
	cdt_cfg_release(&cfg);

	/* The default file is missing: an empty config. */
	unsetenv("CDT_CONFIG");
	snprintf(dir, sizeof(dir), "%s/xdg", tmpdir);
	setenv("XDG_CONFIG_HOME", dir, 1);
	snprintf(path, sizeof(path), "%s/xdg/cdt/config.yaml", tmpdir);
	is_str(cdt_cfg_path(), path, "default path under XDG_CONFIG_HOME");
	cdt_cfg_init(&cfg);
	cdt_err_clear();
	is_int(cdt_cfg_load(&cfg), 0, "missing default file: ok");
	is_str(last_msg(), "", "and quiet");
	ok(jv_object_length(jv_copy(cfg.tree)) == 0, "and empty");
	cdt_cfg_release(&cfg);

	/* A relative XDG_CONFIG_HOME is ignored, as the spec says. */
	setenv("XDG_CONFIG_HOME", "rel", 1);
	setenv("HOME", tmpdir, 1);
	snprintf(path, sizeof(path), "%s/.config/cdt/config.yaml", tmpdir);
	is_str(cdt_cfg_path(), path, "default path under HOME");

	/* The default file exists: file < env < set. */
	setenv("XDG_CONFIG_HOME", dir, 1);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/xdg/cdt", tmpdir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/xdg/cdt/config.yaml", tmpdir);
	write_file(path, "storage:\n  backend: local\n"
			 "routing:\n  priority: [file]\n  timeout: 5s\n");
	setenv("CDT_PROVIDER", "env", 1);
	cdt_cfg_init(&cfg);
	is_int(cdt_cfg_load(&cfg), 0, "default file loads");
	jv p = cdt_cfg_get(&cfg, "routing.priority");
	ok(jv_equal(p, jv_parse("[\"env\"]")), "env wins over the file");
	is_int(cdt_cfg_duration_ms(&cfg, "routing.timeout", 0), 5000,
	       "the file's other keys stay");
	is_str(cdt_cfg_str(&cfg, "storage.backend", NULL), "local",
	       "file value without an override");
	cdt_cfg_set(&cfg, "routing.priority", "flag");
	p = cdt_cfg_get(&cfg, "routing.priority");
	ok(jv_equal(p, jv_parse("[\"flag\"]")), "set wins over env");
	const char *origin;
	int line, col;
	ok(cdt_cfg_where(&cfg, "routing.timeout", &origin, &line, &col) &&
	   !strcmp(origin, path) && line == 5 && col == 12,
	   "where: the file's path");
	cdt_cfg_release(&cfg);

	/* A bad environment undoes the file layer too. */
	setenv("CDT_STORAGE", "ftp", 1);
	cdt_cfg_init(&cfg);
	is_int(cdt_cfg_load(&cfg), EX_CONFIG, "bad env after a good file: 78");
	p = cdt_cfg_get(&cfg, "routing.timeout");
	ok(!jv_is_valid(p), "and cfg is left as it was");
	cdt_cfg_release(&cfg);
	unsetenv("CDT_STORAGE");
	unsetenv("CDT_PROVIDER");

	/* A bad file through $CDT_CONFIG names its path. */
	snprintf(path, sizeof(path), "%s/bad.yaml", tmpdir);
	write_file(path, "# comment\nrouting:\n  max_wait: forever\n");
	setenv("CDT_CONFIG", path, 1);
	is_str(cdt_cfg_path(), path, "cdt_cfg_path is $CDT_CONFIG");
	cdt_cfg_init(&cfg);
	is_int(cdt_cfg_load(&cfg), EX_CONFIG, "bad $CDT_CONFIG: 78");
	char want[600];
	snprintf(want, sizeof(want), "%s:3:13: 'routing.max_wait' must be "
		 "a duration", path);
	ok(strstr(last_msg(), want) != NULL, "names path:line:col");
	cdt_cfg_release(&cfg);

	/* A directory, and an oversized file. */
	setenv("CDT_CONFIG", tmpdir, 1);
	cdt_cfg_init(&cfg);
	is_int(cdt_cfg_load(&cfg), EX_CONFIG, "a directory: 78");
	ok(strstr(last_msg(), "Is a directory") != NULL,
	   "directory message");
	cdt_cfg_release(&cfg);
	snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && ftruncate(fd, CDT_CFG_MAX_BYTES + 1) == 0,
	   "made a big file");
	close(fd);
	cdt_cfg_init(&cfg);
	is_int(cdt_cfg_load_file(&cfg, path), EX_CONFIG, "big file: 78");
	ok(strstr(last_msg(), "larger than 1 MiB") != NULL, "big file message");
	cdt_cfg_release(&cfg);

	/* A missing file through load_file is an error. */
	snprintf(path, sizeof(path), "%s/none.yaml", tmpdir);
	cdt_cfg_init(&cfg);
	is_int(cdt_cfg_load_file(&cfg, path), EX_CONFIG,
	       "cdt_cfg_load_file of a missing file: 78");
	cdt_cfg_release(&cfg);
	clear_env();
	cdt_err_quiet(false);
}

/* cdt_cfg_home is computed once per process: check each rule in a child. */
static void
home_case(const char *cdt_home, const char *xdg, const char *home,
	  const char *want, const char *title)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		clear_env();
		if (cdt_home)
			setenv("CDT_HOME", cdt_home, 1);
		if (xdg)
			setenv("XDG_DATA_HOME", xdg, 1);
		if (home)
			setenv("HOME", home, 1);
		const char *h = cdt_cfg_home();
		const char *h2 = cdt_cfg_home();
		_exit(h && h == h2 && !strcmp(h, want) ? 0 : 1);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", title);
}

static void
test_home(void)
{
	home_case("/srv/cdt", "/xdg", "/home/u", "/srv/cdt", "$CDT_HOME");
	home_case(NULL, "/xdg", "/home/u", "/xdg/cdt", "$XDG_DATA_HOME/cdt");
	home_case("", "/xdg", "/home/u", "/xdg/cdt", "empty CDT_HOME ignored");
	home_case(NULL, "rel", "/home/u", "/home/u/.local/share/cdt",
		  "relative XDG_DATA_HOME ignored");
	home_case(NULL, NULL, "/home/u", "/home/u/.local/share/cdt",
		  "$HOME/.local/share/cdt");
}

int
main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(errpath, sizeof(errpath), "%s/stderr", tmpdir);
	cdt_err_setname("t-cfg");
	cdt_log_set_level(CDT_LOG_WARN);
	clear_env();

	test_parsers();
	test_good();
	test_bad();
	test_empty_and_null();
	test_unknown();
	test_merge();
	test_set();
	test_env();
	test_load();
	test_home();

	static const char *const files[] = {
		"stderr", "bad.yaml", "big.yaml", "xdg/cdt/config.yaml",
		"xdg/cdt", "xdg", "",
	};
	for (size_t i = 0; i < CDT_ARRAY_SIZE(files); i++) {
		char p[600];
		snprintf(p, sizeof(p), "%s/%s", tmpdir, files[i]);
		if (unlink(p) && rmdir(p))
			diag("cannot remove %s", p);
	}
	return done_testing();
}
