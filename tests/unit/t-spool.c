/*
 * Unit tests for lib/spool: records kept in memory come back in order;
 * past sp.limit (set small here) they move to an unlinked file under
 * $CDT_HOME/tmp and still come back in order, whole, and again after a
 * rewind; release gives back every descriptor; a $CDT_HOME that cannot
 * hold tmp/ is EX_CANTCREAT.
 */
#include "compat.h"
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "err.h"
#include "spool.h"
#include "tap.h"

static char home[4096];

static int
count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Entries in dir other than . and .., or -1 if it cannot be read. */
static int
count_entries(const char *dir)
{
	int n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static jv
make_rec(int i)
{
	jv r = cdt_record_new(i % 3 ? "file" : "edit");
	r = jv_object_set(r, jv_string("i"), jv_number(i));
	r = jv_object_set(r, jv_string("path"),
			  jv_string_fmt("src/f%03d.c", i));
	r = jv_object_set(r, jv_string("content"),
			  jv_string("h\xc3\xa9llo \xe2\x82\xac\n\t\"q\""));
	return r;
}

/* Read n records back and check each is make_rec(i), in order. */
static bool
read_back(struct cdt_spool *sp, int n, const char *what)
{
	for (int i = 0; i < n; i++) {
		jv rec = jv_invalid();
		int rc = cdt_spool_next(sp, &rec);
		if (rc) {
			diag("%s: record %d: rc %d", what, i, rc);
			return false;
		}
		jv want = make_rec(i);
		bool same = jv_equal(rec, want);
		if (!same) {
			diag("%s: record %d differs", what, i);
			return false;
		}
	}
	jv rec = jv_invalid();
	int rc = cdt_spool_next(sp, &rec);
	if (rc != CDT_EOF) {
		if (rc == 0)
			jv_free(rec);
		diag("%s: no EOF after %d records (rc %d)", what, n, rc);
		return false;
	}
	return true;
}

static void
test_memory(void)
{
	struct cdt_spool sp;
	int fds = count_fds();

	cdt_spool_init(&sp);
	is_int(sp.limit, CDT_SPOOL_MEM, "the default limit is CDT_SPOOL_MEM");
	jv rec = jv_invalid();
	is_int(cdt_spool_next(&sp, &rec), CDT_EOF, "an empty spool: EOF");
	for (int i = 0; i < 5; i++)
		cdt_spool_add(&sp, make_rec(i));
	ok(!cdt_spool_on_disk(&sp), "five small records stay in memory");
	is_int(sp.count, 5, "count");
	ok(read_back(&sp, 5, "memory"), "they come back in order, then EOF");
	is_int(cdt_spool_rewind(&sp), 0, "rewind");
	ok(read_back(&sp, 5, "memory, rewound"), "and again after a rewind");

	/* Rewind in the middle. */
	cdt_spool_rewind(&sp);
	rec = jv_invalid();
	cdt_spool_next(&sp, &rec);
	jv_free(rec);
	cdt_spool_rewind(&sp);
	ok(read_back(&sp, 5, "memory, rewound mid-way"),
	   "rewind after one record starts from the first");
	is_int(count_entries(home), 0, "nothing was written to $CDT_HOME");
	cdt_spool_release(&sp);
	is_int(count_fds(), fds, "release: no descriptor left open");
	cdt_spool_release(&sp);
	ok(1, "a second release is harmless");
}

static void
test_disk(void)
{
	struct cdt_spool sp;
	char tmp[4200];
	struct stat st;
	int fds = count_fds();
	int n = 200;

	snprintf(tmp, sizeof(tmp), "%s/tmp", home);
	cdt_spool_init(&sp);
	sp.limit = 1024;
	int rc = 0;
	int first_disk = -1;
	for (int i = 0; i < n && !rc; i++) {
		rc = cdt_spool_add(&sp, make_rec(i));
		if (first_disk < 0 && cdt_spool_on_disk(&sp))
			first_disk = i;
	}
	is_int(rc, 0, "adding %d records past a 1 KiB limit", n);
	ok(cdt_spool_on_disk(&sp), "the spool moved to disk");
	ok(first_disk > 0 && first_disk < 30,
	   "soon after passing the limit (at record %d)", first_disk);
	is_int(sp.count, n, "count covers memory and disk");
	ok(stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) &&
	   (st.st_mode & 0777) == 0700, "$CDT_HOME/tmp exists, mode 0700");
	is_int(count_entries(tmp), 0,
	       "the spool file is unlinked (tmp/ stays empty)");
	ok(read_back(&sp, n, "disk"),
	   "all %d records come back whole, in order, then EOF", n);
	is_int(cdt_spool_rewind(&sp), 0, "rewind on disk");
	ok(read_back(&sp, n, "disk, rewound"), "and again after a rewind");

	cdt_spool_rewind(&sp);
	for (int i = 0; i < 3; i++) {
		jv rec = jv_invalid();
		cdt_spool_next(&sp, &rec);
		jv_free(rec);
	}
	cdt_spool_rewind(&sp);
	ok(read_back(&sp, n, "disk, rewound mid-way"),
	   "rewind after three records starts from the first");

	cdt_spool_release(&sp);
	is_int(count_fds(), fds,
	       "release of a spool on disk: no descriptor left open");
}

static void
test_disk_big(void)
{
	struct cdt_spool sp;
	struct cdt_buf s = CDT_BUF_INIT;

	/* Records larger than the reader's 64 KiB read chunk. */
	for (int i = 0; i < 100 * 1024; i++)
		cdt_buf_addch(&s, 'a' + i % 26);
	cdt_spool_init(&sp);
	sp.limit = 1000;
	int rc = 0;
	for (int i = 0; i < 4 && !rc; i++) {
		jv r = cdt_record_new("file");
		r = jv_object_set(r, jv_string("i"), jv_number(i));
		r = jv_object_set(r, jv_string("content"), jv_string(s.buf));
		rc = cdt_spool_add(&sp, r);
	}
	ok(rc == 0 && cdt_spool_on_disk(&sp), "four 100 KiB records on disk");
	bool good = true;
	for (int i = 0; i < 4 && good; i++) {
		jv rec = jv_invalid();
		if (cdt_spool_next(&sp, &rec)) {
			good = false;
			break;
		}
		jv num = jv_object_get(jv_copy(rec), jv_string("i"));
		const char *c = cdt_record_str(rec, "content");
		good = jv_get_kind(num) == JV_KIND_NUMBER &&
			jv_number_value(num) == i && c && !strcmp(c, s.buf);
		jv_free(num);
		jv_free(rec);
	}
	jv rec = jv_invalid();
	ok(good && cdt_spool_next(&sp, &rec) == CDT_EOF,
	   "they come back whole and in order");
	cdt_spool_release(&sp);
	cdt_buf_release(&s);
}

/* In a child, so that $CDT_HOME is read fresh: tmp/ cannot be made. */
static void
test_cantcreat(void)
{
	char file[4200];
	snprintf(file, sizeof(file), "%s/not-a-dir", home);
	FILE *f = fopen(file, "w");
	if (f)
		fclose(f);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char bad[4300];
		snprintf(bad, sizeof(bad), "%s/home", file);
		setenv("CDT_HOME", bad, 1);
		cdt_err_quiet(true);
		struct cdt_spool sp;
		cdt_spool_init(&sp);
		sp.limit = 10;
		int rc = 0;
		for (int i = 0; i < 3 && !rc; i++)
			rc = cdt_spool_add(&sp, make_rec(i));
		cdt_spool_release(&sp);
		_exit(rc);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == EX_CANTCREAT,
	   "a $CDT_HOME under a regular file: EX_CANTCREAT when spilling");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != EX_CANTCREAT)
		diag("status %d", st);
	unlink(file);
}

static void
rmtree(const char *dir)
{
	char p[4400];
	struct dirent *e;
	DIR *d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			rmtree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

int
main(void)
{
	snprintf(home, sizeof(home), "/tmp/t-spool.XXXXXX");
	if (!mkdtemp(home)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("CDT_HOME", home, 1);
	test_cantcreat();
	test_memory();
	test_disk();
	test_disk_big();
	rmtree(home);
	return done_testing();
}
