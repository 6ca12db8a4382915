/*
 * timeit - run a command N times, print its median and p90 wall time.
 *
 *	timeit N cmd [args...]
 *
 * Output: "median_us p90_us min_us", then a second line with the peak
 * RSS in KiB (the largest of the runs).  stdout and stderr of the command
 * go to /dev/null.  Raw samples, one per line, go to $TIMEIT_RAW if set.
 */
#define _GNU_SOURCE 1
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: timeit N cmd [args...]\n");
		return 64;
	}
	long n = strtol(argv[1], NULL, 10);
	if (n < 1)
		return 64;
	double *s = calloc((size_t)n, sizeof(*s));
	int null = open("/dev/null", O_RDWR);
	long rss = 0, failed = 0;
	for (long i = 0; i < n; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		pid_t p = fork();
		if (p == 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		int st;
		struct rusage ru;
		wait4(p, &st, 0, &ru);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
		if (ru.ru_maxrss > rss)
			rss = ru.ru_maxrss;
		clock_gettime(CLOCK_MONOTONIC, &b);
		s[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
	}
	const char *raw = getenv("TIMEIT_RAW");
	if (raw) {
		FILE *f = fopen(raw, "w");
		for (long i = 0; f && i < n; i++)
			fprintf(f, "%.1f\n", s[i]);
		if (f)
			fclose(f);
	}
	/* A figure of a command that failed is not the figure asked for. */
	if (failed)
		fprintf(stderr, "timeit: warning: '%s' failed in %ld of %ld "
			"runs\n", argv[2], failed, n);
	qsort(s, (size_t)n, sizeof(*s), cmp);
	printf("%.0f %.0f %.0f\n%ld\n", s[n / 2], s[n * 9 / 10], s[0], rss);
	return 0;
}
