#include "compat.h"
#include <dlfcn.h>
#include "err.h"
#include "curldl.h"

struct cdt_curl_fns cdt_curl;

static const struct {
	const char *name;
	size_t off;
} syms[] = {
#define S(f, n) { n, offsetof(struct cdt_curl_fns, f) }
	S(global_init, "curl_global_init"),
	S(global_cleanup, "curl_global_cleanup"),
	S(easy_init, "curl_easy_init"),
	S(easy_cleanup, "curl_easy_cleanup"),
	S(easy_reset, "curl_easy_reset"),
	S(easy_setopt, "curl_easy_setopt"),
	S(easy_getinfo, "curl_easy_getinfo"),
	S(easy_strerror, "curl_easy_strerror"),
	S(free, "curl_free"),
	S(multi_init, "curl_multi_init"),
	S(multi_cleanup, "curl_multi_cleanup"),
	S(multi_add_handle, "curl_multi_add_handle"),
	S(multi_remove_handle, "curl_multi_remove_handle"),
	S(multi_perform, "curl_multi_perform"),
	S(multi_poll, "curl_multi_poll"),
	S(multi_info_read, "curl_multi_info_read"),
	S(multi_strerror, "curl_multi_strerror"),
	S(slist_append, "curl_slist_append"),
	S(slist_free_all, "curl_slist_free_all"),
	S(url, "curl_url"),
	S(url_cleanup, "curl_url_cleanup"),
	S(url_get, "curl_url_get"),
	S(url_set, "curl_url_set"),
	S(url_strerror, "curl_url_strerror"),
#undef S
};

int
cdt_curl_load(void)
{
	static void *lib;
	if (lib)
		return 0;
	/* The soname of Debian 12's libcurl4 (OpenSSL flavour). */
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return cdt_err_class(EX_UNAVAILABLE, "config",
				     "cannot load libcurl: %s (apt-get install "
				     "libcurl4)", dlerror());
	for (size_t i = 0; i < CDT_ARRAY_SIZE(syms); i++) {
		void *p = dlsym(h, syms[i].name);
		if (!p) {
			dlclose(h);
			return cdt_err_class(EX_UNAVAILABLE, "config",
					     "libcurl.so.4 lacks %s",
					     syms[i].name);
		}
		/* POSIX lets a data pointer hold a function's address. */
		memcpy((char *)&cdt_curl + syms[i].off, &p, sizeof(p));
	}
	lib = h;
	return 0;
}
