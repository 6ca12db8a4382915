/*
 * tap.h - a Test Anything Protocol harness for the C unit tests.
 *
 *	ok(cond, "what holds");
 *	is_int(got, want, "name");
 *	is_str(got, want, "name");
 *	return done_testing();
 *
 * done_testing prints the plan at the end ("1..N") and returns 1 when any
 * test failed, so main can return it.  A test program that crashes or
 * prints no plan fails under prove.
 */
#ifndef CDT_TAP_H
#define CDT_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static int __attribute__((format(printf, 2, 3), unused))
tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)

#define is_int(got, want, ...) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	if (!tap_ok(g_ == w_, __VA_ARGS__)) \
		printf("#   got %lld, want %lld (%s:%d)\n", g_, w_, \
		       __FILE__, __LINE__); \
} while (0)

#define is_str(got, want, ...) do { \
	const char *g_ = (got), *w_ = (want); \
	int same_ = (g_ && w_) ? !strcmp(g_, w_) : g_ == w_; \
	if (!tap_ok(same_, __VA_ARGS__)) \
		printf("#   got '%s', want '%s' (%s:%d)\n", \
		       g_ ? g_ : "(null)", w_ ? w_ : "(null)", \
		       __FILE__, __LINE__); \
} while (0)

#define diag(...) do { printf("# "); printf(__VA_ARGS__); \
	printf("\n"); } while (0)

static int __attribute__((unused))
done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
