/*
 * provsend - one attempt at one provider through libcdt, for shell tests
 * against the fake provider (tests/fixtures/fakeprov.py).
 *
 *	provsend [-m MODEL] [-s SYSTEM] [-n MAX_TOKENS] [-t MS]
 *		 [-r CASSETTE] [-R CASSETTE] PROVIDER PROMPT
 *
 * The config (CDT_CONFIG) and the environment choose base URLs and keys,
 * as for cdt-chat.  The reply text goes to stdout as it arrives; then, on
 * a line of its own, a JSON object with the result fields (status, class,
 * message, stop_reason, tokens_in, tokens_out, model, http_status,
 * retry_after_s, output_began, partial, replayed, key_source).  -r serves
 * the request from a cassette (a replay provider), -R appends the reply
 * to one.  -t sets every deadline of the attempt.  The exit status is the
 * attempt's (0, 65, 69, 75, 77, 78), or 64 for a usage error.
 */
#include "compat.h"
#include <unistd.h>
#include "cfg.h"
#include "err.h"
#include "http.h"
#include "provider.h"

static int
print_delta(void *ctx, const char *text, size_t len)
{
	(void)ctx;
	fwrite(text, 1, len, stdout);
	fflush(stdout);
	return 0;
}

static int
usage(void)
{
	fputs("usage: provsend [-m MODEL] [-s SYSTEM] [-n MAX_TOKENS] "
	      "[-t MS] [-r CASSETTE] [-R CASSETTE] PROVIDER PROMPT\n",
	      stderr);
	return EX_USAGE;
}

int
main(int argc, char **argv)
{
	struct cdt_cfg cfg;
	struct cdt_providers ps = { NULL, 0 };
	struct cdt_chat_req req = { .temperature = -1 };
	struct cdt_chat_result res;
	const char *replay = NULL;
	const char *record = NULL;
	int c;
	int rc;

	cdt_err_setname("provsend");
	while ((c = getopt(argc, argv, "m:s:n:t:r:R:")) != -1) {
		switch (c) {
		case 'm':
			req.model = optarg;
			break;
		case 's':
			req.system = optarg;
			break;
		case 'n':
			req.max_tokens = strtol(optarg, NULL, 10);
			break;
		case 't':
			req.total_ms = strtol(optarg, NULL, 10);
			req.first_byte_ms = req.total_ms;
			req.idle_ms = req.total_ms;
			break;
		case 'r':
			replay = optarg;
			break;
		case 'R':
			record = optarg;
			break;
		default:
			return usage();
		}
	}
	if (argc - optind != 2)
		return usage();
	cdt_cfg_init(&cfg);
	cdt_chat_result_init(&res);
	rc = cdt_cfg_load(&cfg);
	if (rc)
		goto out;
	rc = cdt_providers_load(&cfg, &ps);
	if (rc)
		goto out;
	if (replay)
		cdt_providers_add_replay(&ps, replay);
	struct cdt_provider *p = cdt_providers_find(&ps, argv[optind]);
	if (!p) {
		rc = cdt_err(EX_CONFIG, "no provider '%s'", argv[optind]);
		goto out;
	}
	jv m = jv_object_set(jv_object(), jv_string("role"),
			     jv_string("user"));
	m = jv_object_set(m, jv_string("content"),
			  jv_string(argv[optind + 1]));
	req.messages = jv_array_append(jv_array(), m);
	req.stream = true;
	rc = cdt_provider_send(p, &req, print_delta, NULL, &res);
	putchar('\n');
	jv o = jv_object();
	o = jv_object_set(o, jv_string("status"), jv_number(rc));
	o = jv_object_set(o, jv_string("class"), res.err_class
			  ? jv_string(res.err_class) : jv_null());
	o = jv_object_set(o, jv_string("message"), jv_string(res.err_msg));
	o = jv_object_set(o, jv_string("stop_reason"),
			  jv_string(res.stop_reason));
	o = jv_object_set(o, jv_string("tokens_in"),
			  jv_number((double)res.tokens_in));
	o = jv_object_set(o, jv_string("tokens_out"),
			  jv_number((double)res.tokens_out));
	o = jv_object_set(o, jv_string("model"), jv_string(res.model));
	o = jv_object_set(o, jv_string("http_status"),
			  jv_number((double)res.http_status));
	o = jv_object_set(o, jv_string("retry_after_s"),
			  jv_number(res.retry_after_s));
	o = jv_object_set(o, jv_string("output_began"),
			  jv_bool(res.output_began));
	o = jv_object_set(o, jv_string("partial"), jv_bool(res.partial));
	o = jv_object_set(o, jv_string("replayed"), jv_bool(res.replayed));
	o = jv_object_set(o, jv_string("ttfb_ms"),
			  jv_number((double)res.ttfb_ms));
	o = jv_object_set(o, jv_string("key_source"), p->key_source
			  ? jv_string(p->key_source) : jv_null());
	jv s = jv_dump_string(o, 0);
	puts(jv_string_value(s));
	jv_free(s);
	if (!rc && record) {
		char key[65];
		rc = cdt_provider_request_key(p, &req, key);
		if (!rc)
			rc = cdt_cassette_append(record, key, p->name, &res);
	}
	jv_free(req.messages);
out:
	cdt_chat_result_release(&res);
	cdt_providers_release(&ps);
	cdt_cfg_release(&cfg);
	cdt_http_cleanup();
	return rc;
}
