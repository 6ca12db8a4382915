/*
 * curldl.h - libcurl, loaded when the first request is made.
 *
 * libcurl pulls some forty shared libraries into a process (TLS, HTTP/2,
 * IDN, LDAP, Kerberos, SSH ...), about 4 ms of start-up for every tool
 * that links it, although most runs never speak HTTP (`cdt-files -C`,
 * `cdt-route pick`, `--version`).  So lib/http.c, the only user of
 * libcurl, calls it through this table, filled by dlopen("libcurl.so.4")
 * on the first request.  Include this header instead of <curl/curl.h>
 * and use the curl_* names as usual; call cdt_curl_load() first.
 */
#ifndef CDT_CURLDL_H
#define CDT_CURLDL_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include "compat.h"

struct cdt_curl_fns {
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	void (*free)(void *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int,
				int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	const char *(*multi_strerror)(CURLMcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLU *(*url)(void);
	void (*url_cleanup)(CURLU *);
	CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
	const char *(*url_strerror)(CURLUcode);
};

extern struct cdt_curl_fns cdt_curl;

/* Load libcurl once; 0, or EX_UNAVAILABLE after reporting. */
int cdt_curl_load(void);

#define curl_global_init cdt_curl.global_init
#define curl_global_cleanup cdt_curl.global_cleanup
#define curl_easy_init cdt_curl.easy_init
#define curl_easy_cleanup cdt_curl.easy_cleanup
#define curl_easy_reset cdt_curl.easy_reset
#undef curl_easy_setopt
#define curl_easy_setopt cdt_curl.easy_setopt
#undef curl_easy_getinfo
#define curl_easy_getinfo cdt_curl.easy_getinfo
#define curl_easy_strerror cdt_curl.easy_strerror
#define curl_free cdt_curl.free
#define curl_multi_init cdt_curl.multi_init
#define curl_multi_cleanup cdt_curl.multi_cleanup
#define curl_multi_add_handle cdt_curl.multi_add_handle
#define curl_multi_remove_handle cdt_curl.multi_remove_handle
#define curl_multi_perform cdt_curl.multi_perform
#define curl_multi_poll cdt_curl.multi_poll
#define curl_multi_info_read cdt_curl.multi_info_read
#define curl_multi_strerror cdt_curl.multi_strerror
#define curl_slist_append cdt_curl.slist_append
#define curl_slist_free_all cdt_curl.slist_free_all
#define curl_url cdt_curl.url
#define curl_url_cleanup cdt_curl.url_cleanup
#define curl_url_get cdt_curl.url_get
#define curl_url_set cdt_curl.url_set
#define curl_url_strerror cdt_curl.url_strerror

#include "banned.h"
#endif
