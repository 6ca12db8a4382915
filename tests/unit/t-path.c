/*
 * Unit tests for lib/path: the lexical validator on every hostile path
 * of security-protocol-anchors §5, then the confined operations, run
 * twice: once with openat2 and once with CDT_TEST_NO_OPENAT2=1 (the
 * component walk), expecting the same codes.
 */
#include "compat.h"
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "buf.h"
#include "err.h"
#include "log.h"
#include "path.h"
#include "tap.h"

static char topdir[] = "/tmp/t-path.XXXXXX";
static const char *M;		/* the mode under test, in test names */

/* ---- helpers that work on absolute paths (set-up, not under test) --- */

static char *
pth(const char *fmt, ...) CDT_PRINTF(1, 2);

/* A path in a small ring of static buffers, so a few can be alive. */
static char *
pth(const char *fmt, ...)
{
	static char ring[8][4200];
	static int next;
	char *p = ring[next++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, sizeof(ring[0]), fmt, ap);
	va_end(ap);
	return p;
}

static void
put(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t n = strlen(content);

	if (fd < 0 || write(fd, content, n) != (ssize_t)n)
		diag("set-up: cannot write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* The content of a file (up to 255 bytes), or "(missing)". */
static const char *
slurp(const char *path)
{
	static char buf[256];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return "(missing)";
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static mode_t
perms(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/* Entries in a directory besides . and .., or -1 when it is missing. */
static int
count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
mkd(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		diag("set-up: mkdir %s: %s", path, strerror(errno));
}

static void
sym(const char *target, const char *path)
{
	if (symlink(target, path) < 0)
		diag("set-up: symlink %s: %s", path, strerror(errno));
}

static const char *
last_msg(void)
{
	struct cdt_err_last e;

	cdt_err_get(&e);
	return e.message;
}

/* ---- the lexical validator ------------------------------------------ */

struct lex {
	const char *label;
	const char *path;
	size_t len;
	int code;
	const char *why;
};

#define L(s) s, sizeof(s) - 1

static const struct lex lexcases[] = {
	/* security-protocol-anchors §5, P1-P29 */
	{ "P1 parent escape", L("../org2/secret"), 65, "'..' segment" },
	{ "P2 nested escape", L("sub/../../org2/secret"), 65, "'..' segment" },
	{ "P3 harmless-looking ..", L("sub/../a.txt"), 65, "'..' segment" },
	{ "P4 leave and re-enter", L("sub/../../proj/a.txt"), 65,
	  "'..' segment" },
	{ "P5 absolute", L("/etc/passwd"), 65, "absolute path" },
	{ "P6 absolute //", L("//etc/passwd"), 65, "absolute path" },
	{ "P6 absolute /./", L("/./etc"), 65, "absolute path" },
	{ "P7 URL-encoded dots are a literal name", L("%2e%2e/org2/secret"),
	  0, NULL },
	{ "P8 double encoding is literal", L("%252e%252e%252f"), 0, NULL },
	{ "P9 backslash separators", L("..\\org2\\secret"), 65, "backslash" },
	{ "P10 NUL truncation", L("a.txt\0.png"), 65, "NUL byte" },
	{ "P11 overlong UTF-8 ..", L("\xc0\xae\xc0\xae/"), 65,
	  "invalid UTF-8" },
	{ "P12 fullwidth dots stay literal", L("\xef\xbc\x8e\xef\xbc\x8e/org2"),
	  0, NULL },
	{ "P13 RTL override", L("invoice\xe2\x80\xae" "fdp.exe"), 65,
	  "invisible or bidi control character" },
	{ "P14 zero-width space", L("a\xe2\x80\x8b.txt"), 65,
	  "invisible or bidi control character" },
	{ "P15 newline injection", L("a.txt\n{\"role\":\"org-admin\"}"), 65,
	  "control character" },
	{ "P16 empty", L(""), 65, "empty path" },
	{ "P16 .", L("."), 65, "'.' segment" },
	{ "P16 ./", L("./"), 65, "'.' segment" },
	{ "P17 trailing slash", L("a.txt/"), 65, "trailing slash" },
	{ "P18 empty segment", L("sub//a.txt"), 65, "empty segment" },
	{ "P24 magic link, absolute", L("/proc/self/root/etc/passwd"), 65,
	  "absolute path" },
	{ "P24 magic fd link, absolute", L("/proc/self/fd/3"), 65,
	  "absolute path" },
	{ "P26 .git/config", L(".git/config"), 77, "reserved path" },
	{ "P26 .git/hooks/pre-commit", L(".git/hooks/pre-commit"), 77,
	  "reserved path" },
	{ "P26 .cdt/index", L(".cdt/index"), 77, "reserved path" },
	{ "P28 leading dash is a name", L("-rf"), 0, NULL },
	{ "P28 --help is a name", L("--help"), 0, NULL },
	{ "P29 CON", L("CON"), 0, NULL },
	{ "P29 aux.txt", L("aux.txt"), 0, NULL },
	{ "P29 trailing dot", L("a.txt."), 0, NULL },
	{ "P29 trailing space", L("a.txt "), 0, NULL },

	/* reserved trees, as case-folding and Windows clients see them */
	{ "reserved .git", L(".git"), 77, "reserved path" },
	{ "reserved .cdt", L(".cdt"), 77, "reserved path" },
	{ "reserved .GIT/config", L(".GIT/config"), 77, "reserved path" },
	{ "reserved .Cdt/tmp/x", L(".Cdt/tmp/x"), 77, "reserved path" },
	{ "reserved .git. (Windows drops dots)", L(".git./config"), 77,
	  "reserved path" },
	{ "reserved '.git ' (Windows drops spaces)", L(".git /config"), 77,
	  "reserved path" },
	{ "reserved GIT~1 (8.3 name)", L("GIT~1/config"), 77,
	  "reserved path" },
	{ "HFS-ignorable .g<ZWNJ>it", L(".g\xe2\x80\x8cit/config"), 65,
	  "invisible or bidi control character" },
	{ "lexical errors win over reserved", L(".git/../a"), 65,
	  "'..' segment" },
	{ "nested .git is not reserved", L("sub/.git/config"), 0, NULL },
	{ ".gitignore is not reserved", L(".gitignore"), 0, NULL },
	{ ".github is not reserved", L(".github/workflows/ci.yml"), 0, NULL },
	{ ".cdtrc is not reserved", L(".cdtrc"), 0, NULL },

	/* the brief's further shapes */
	{ "./a", L("./a"), 65, "'.' segment" },
	{ "a/./b", L("a/./b"), 65, "'.' segment" },
	{ "a/..", L("a/.."), 65, "'..' segment" },
	{ "a//", L("a//"), 65, "empty segment" },
	{ "lone /", L("/"), 65, "absolute path" },
	{ "backslash inside", L("a\\b"), 65, "backslash" },
	{ "tab", L("a\tb"), 65, "control character" },
	{ "DEL", L("a\x7f"), 65, "control character" },
	{ "C1 NEL", L("a\xc2\x85"), 65, "control character" },
	{ "U+FFFD", L("a\xef\xbf\xbd.txt"), 65,
	  "replacement character U+FFFD" },
	{ "BOM", L("\xef\xbb\xbf" "a"), 65,
	  "invisible or bidi control character" },
	{ "bidi isolate U+2066", L("a\xe2\x81\xa6"), 65,
	  "invisible or bidi control character" },
	{ "overlong NUL", L("\xc0\x80"), 65, "invalid UTF-8" },
	{ "overlong 3-byte", L("\xe0\x80\xaf"), 65, "invalid UTF-8" },
	{ "surrogate", L("\xed\xa0\x80"), 65, "invalid UTF-8" },
	{ "beyond U+10FFFF", L("\xf4\x90\x80\x80"), 65, "invalid UTF-8" },
	{ "truncated sequence", L("a\xe2\x82"), 65, "invalid UTF-8" },
	{ "truncated before /", L("\xe2\x82/a"), 65, "invalid UTF-8" },
	{ "lone continuation", L("\x80"), 65, "invalid UTF-8" },
	{ "0xff", L("a\xff"), 65, "invalid UTF-8" },
	{ "Latin-1 e-acute", L("caf\xe9"), 65, "invalid UTF-8" },
	{ "UTF-8 names are fine", L("h\xc3\xa9llo \xe2\x98\x83.txt"), 0,
	  NULL },
	{ "4-byte UTF-8 is fine", L("\xf0\x9f\x98\x80/x"), 0, NULL },
	{ "plain nested", L("src/lib/a.c"), 0, NULL },
	{ "dots inside names", L("a..b/...c/.d"), 0, NULL },
	{ "tilde is literal", L("~/x"), 0, NULL },
};

static void
test_lexical(void)
{
	for (size_t i = 0; i < CDT_ARRAY_SIZE(lexcases); i++) {
		const struct lex *c = &lexcases[i];
		const char *why = "(unset)";
		int rc = cdt_path_check(c->path, c->len, &why);
		is_int(rc, c->code, "check: %s: code", c->label);
		is_str(why, c->why, "check: %s: reason", c->label);
	}

	char big[CDT_PATH_MAX + 2];
	const char *why;

	/* P19: a 255-byte segment passes, 256 does not. */
	memset(big, 'a', sizeof(big));
	is_int(cdt_path_check(big, 255, &why), 0, "check: 255-byte segment");
	is_int(cdt_path_check(big, 256, &why), 65,
	       "check: P19 256-byte segment");
	is_str(why, "segment too long", "check: P19 256-byte segment: reason");
	memcpy(big, "d/", 2);
	is_int(cdt_path_check(big, 258, &why), 65,
	       "check: 256-byte second segment");

	/* P19: 4095 bytes of 200-byte segments pass, 4096 and more do not. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = i % 201 == 200 ? '/' : 'b';
	is_int(cdt_path_check(big, CDT_PATH_MAX, &why), 0,
	       "check: %d-byte path", CDT_PATH_MAX);
	is_int(cdt_path_check(big, CDT_PATH_MAX + 1, &why), 65,
	       "check: P19 %d-byte path", CDT_PATH_MAX + 1);
	is_str(why, "path too long", "check: P19 long path: reason");
	is_int(cdt_path_check(big, sizeof(big), &why), 65,
	       "check: %zu-byte path", sizeof(big));

	/* len is the bound, not the NUL. */
	is_int(cdt_path_check("abc/../x", 3, &why), 0,
	       "check: only len bytes are looked at");
	is_int(cdt_path_check("abc/", 3, NULL), 0, "check: why may be NULL");
	is_int(cdt_path_check("..", 2, NULL), 65,
	       "check: why may be NULL on failure");
}

/* ---- confined operations -------------------------------------------- */

struct dirs {
	char *top;	/* this battery's directory */
	char *ws;	/* the workspace root */
	char *out;	/* outside the workspace */
	int root;
};

/*
 * The workspace: ordinary files, and the planted symlinks, FIFO and
 * hard link of §5 P20-P25 and P30.
 */
static void
setup(struct dirs *d, const char *label)
{
	static char top[256], ws[300], out[300];

	snprintf(top, sizeof(top), "%s/%s", topdir, label);
	snprintf(ws, sizeof(ws), "%s/ws", top);
	snprintf(out, sizeof(out), "%s/out", top);
	d->top = top;
	d->ws = ws;
	d->out = out;
	mkd(top);
	mkd(ws);
	mkd(out);
	put(pth("%s/secret", out), "S");
	mkd(pth("%s/dir", out));
	put(pth("%s/dir/keep", out), "K");
	mkd(pth("%s/sub", ws));
	put(pth("%s/sub/a.txt", ws), "A");
	sym("../out/secret", pth("%s/link_rel", ws));
	sym(pth("%s/secret", out), pth("%s/link_abs", ws));
	sym("sub", pth("%s/link_in", ws));
	sym("../out", pth("%s/linkdir_rel", ws));
	mkd(pth("%s/d", ws));
	sym(out, pth("%s/d/escdir", ws));
	sym("/proc/self/root", pth("%s/procroot", ws));
	sym("../out/newfile", pth("%s/dangling", ws));
	if (mkfifo(pth("%s/fifo", ws), 0644) < 0)
		diag("set-up: mkfifo: %s", strerror(errno));
	if (link(pth("%s/secret", out), pth("%s/hl", ws)) < 0)
		diag("set-up: link: %s", strerror(errno));
	mkd(pth("%s/.git", ws));
	put(pth("%s/.git/config", ws), "git");
	d->root = -1;
}

static void
test_root_open(struct dirs *d)
{
	int fd = 42;

	is_int(cdt_path_root_open(pth("%s/nope", d->top), &fd), 66,
	       "%s: root_open of a missing dir", M);
	is_int(fd, -1, "%s: root_open failure gives fd -1", M);
	is_int(cdt_path_root_open(pth("%s/secret", d->out), &fd), 66,
	       "%s: root_open of a file", M);
	is_int(cdt_path_root_open(d->ws, &d->root), 0, "%s: root_open", M);
	int fl = fcntl(d->root, F_GETFL);
	ok(fl >= 0 && (fl & O_PATH), "%s: the root fd is O_PATH", M);
}

/* Open, expect a code, close what was opened. */
static int
try_open(struct dirs *d, const char *rel, int flags)
{
	int fd = 42;
	int rc;

	cdt_err_clear();
	rc = cdt_path_open(d->root, rel, flags, 0644, &fd);
	if (rc && fd != -1)
		diag("failed open left fd %d", fd);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void
test_open(struct dirs *d)
{
	int fd = -1;
	char buf[8] = "";

	is_int(cdt_path_open(d->root, "sub/a.txt", O_RDONLY, 0, &fd), 0,
	       "%s: open sub/a.txt", M);
	ok(fd >= 0 && read(fd, buf, sizeof(buf)) == 1 && buf[0] == 'A',
	   "%s: read it", M);
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL);
		ok(!(fl & O_NONBLOCK), "%s: O_NONBLOCK is not left set", M);
		ok(fcntl(fd, F_GETFD) & FD_CLOEXEC, "%s: fd is close-on-exec",
		   M);
		close(fd);
	}

	is_int(try_open(d, "missing", O_RDONLY), 66, "%s: open missing", M);
	is_str(last_msg(), "cannot open 'missing': No such file or directory",
	       "%s: open missing: message", M);
	is_int(try_open(d, "sub/missing", O_RDONLY), 66,
	       "%s: open sub/missing", M);
	is_int(try_open(d, "nodir/x", O_RDONLY), 66, "%s: open nodir/x", M);
	is_int(try_open(d, "sub/a.txt/x", O_RDONLY), 66,
	       "%s: open through a file", M);

	/* P20-P24: symlinks anywhere, relative, absolute, in-tree, magic */
	is_int(try_open(d, "link_rel", O_RDONLY), 77,
	       "%s: P20 relative symlink out", M);
	is_str(last_msg(), "refusing 'link_rel': symlink in path",
	       "%s: P20 message", M);
	is_int(try_open(d, "link_abs", O_RDONLY), 77,
	       "%s: P21 absolute symlink", M);
	is_int(try_open(d, "link_in/a.txt", O_RDONLY), 77,
	       "%s: P22 in-tree symlink as first component", M);
	is_str(last_msg(), "refusing 'link_in/a.txt': symlink in path",
	       "%s: P22 message", M);
	is_int(try_open(d, "link_in", O_RDONLY | O_DIRECTORY), 77,
	       "%s: P22 in-tree symlink to a dir", M);
	is_int(try_open(d, "d/escdir/secret", O_RDONLY), 77,
	       "%s: P23 symlink as middle component", M);
	is_int(try_open(d, "linkdir_rel/secret", O_RDONLY), 77,
	       "%s: symlinked dir as first component", M);
	is_int(try_open(d, "procroot/etc/passwd", O_RDONLY), 77,
	       "%s: P24 symlink to /proc/self/root, through", M);
	is_int(try_open(d, "procroot", O_RDONLY | O_DIRECTORY), 77,
	       "%s: P24 symlink to /proc/self/root itself", M);
	is_int(try_open(d, "link_rel", O_PATH), 77,
	       "%s: O_PATH of a symlink", M);
	is_int(try_open(d, "link_rel", O_PATH | O_NOFOLLOW), 77,
	       "%s: O_PATH|O_NOFOLLOW of a symlink", M);

	/* P25: a FIFO is refused without blocking (alarm() guards a hang) */
	is_int(try_open(d, "fifo", O_RDONLY), 65, "%s: P25 FIFO", M);
	is_str(last_msg(), "refusing 'fifo': not a regular file",
	       "%s: P25 message", M);
	is_int(try_open(d, "fifo", O_WRONLY), 65,
	       "%s: P25 FIFO for writing, no reader", M);
	is_int(try_open(d, "sub", O_RDONLY | O_DIRECTORY), 0,
	       "%s: a directory opens", M);

	/* creating through symlinks creates nothing outside */
	is_int(try_open(d, "link_abs", O_WRONLY | O_CREAT | O_TRUNC), 77,
	       "%s: O_CREAT|O_TRUNC on a symlink", M);
	is_str(slurp(pth("%s/secret", d->out)), "S",
	       "%s: the outside file is untouched", M);
	is_int(try_open(d, "dangling", O_WRONLY | O_CREAT), 77,
	       "%s: O_CREAT on a dangling symlink", M);
	is_int(try_open(d, "dangling", O_WRONLY | O_CREAT | O_EXCL), 77,
	       "%s: O_CREAT|O_EXCL on a dangling symlink", M);
	ok(!exists(pth("%s/newfile", d->out)),
	   "%s: nothing created outside", M);
	is_int(try_open(d, "d/escdir/new", O_WRONLY | O_CREAT), 77,
	       "%s: O_CREAT under a symlinked dir", M);
	ok(!exists(pth("%s/new", d->out)), "%s: nothing created outside", M);

	is_int(try_open(d, "sub", O_WRONLY), 73, "%s: open a dir to write",
	       M);
	is_int(try_open(d, "sub/a.txt", O_WRONLY | O_CREAT | O_EXCL), 73,
	       "%s: O_EXCL on an existing file", M);
	is_int(try_open(d, "fresh.txt", O_WRONLY | O_CREAT | O_EXCL), 0,
	       "%s: O_CREAT|O_EXCL makes a new file", M);
	is_int(perms(pth("%s/fresh.txt", d->ws)), 0644,
	       "%s: with the mode asked for", M);

	/* P30: a hard link to an outside file is never written through */
	is_int(try_open(d, "hl", O_WRONLY | O_TRUNC), 77,
	       "%s: P30 write to a hard-linked file", M);
	is_str(last_msg(), "refusing 'hl': file has other hard links",
	       "%s: P30 message", M);
	is_str(slurp(pth("%s/secret", d->out)), "S",
	       "%s: P30 the outside file is not truncated", M);
	is_int(try_open(d, "hl", O_RDONLY), 0,
	       "%s: reading a hard-linked file is allowed", M);

	is_int(try_open(d, ".git/config", O_RDONLY), 77,
	       "%s: P26 .git/config, existing", M);
	is_str(last_msg(), "refusing '.git/config': reserved path",
	       "%s: P26 message", M);
	is_int(try_open(d, "a/../sub/a.txt", O_RDONLY), 65,
	       "%s: P3 through open", M);
	is_str(last_msg(), "refusing 'a/../sub/a.txt': '..' segment",
	       "%s: P3 message", M);

	/* every lexical case gets the validator's code from open */
	int differ = 0;
	for (size_t i = 0; i < CDT_ARRAY_SIZE(lexcases); i++) {
		const struct lex *c = &lexcases[i];
		if (!c->code || strlen(c->path) != c->len)
			continue;
		int rc = try_open(d, c->path, O_RDONLY);
		if (rc != c->code) {
			diag("open '%s': %d, want %d", c->label, rc, c->code);
			differ++;
		}
	}
	is_int(differ, 0, "%s: open refuses each hostile path with the "
	       "validator's code", M);
}

static void
test_mkdirs(struct dirs *d)
{
	int fd = -1;
	struct stat st, st2;

	is_int(cdt_path_mkdirs(d->root, "x/y/z", &fd), 0, "%s: mkdirs x/y/z",
	       M);
	ok(fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
	   lstat(pth("%s/x/y/z", d->ws), &st2) == 0 &&
	   st.st_ino == st2.st_ino, "%s: mkdirs returns the new dir", M);
	ok(fd >= 0 && fsync(fd) == 0, "%s: the dir fd can be fsynced", M);
	if (fd >= 0)
		close(fd);
	is_int(cdt_path_mkdirs(d->root, "x/y/z", &fd), 0,
	       "%s: mkdirs of existing dirs", M);
	if (fd >= 0)
		close(fd);

	is_int(cdt_path_mkdirs(d->root, "linkdir_rel/newdir", &fd), 77,
	       "%s: mkdirs through a symlinked dir", M);
	is_int(fd, -1, "%s: mkdirs failure gives fd -1", M);
	ok(!exists(pth("%s/newdir", d->out)), "%s: nothing created outside",
	   M);
	is_int(cdt_path_mkdirs(d->root, "d/escdir/n/m", &fd), 77,
	       "%s: mkdirs through a middle symlink", M);
	ok(!exists(pth("%s/n", d->out)), "%s: nothing created outside", M);
	is_int(cdt_path_mkdirs(d->root, "link_in", &fd), 77,
	       "%s: mkdirs of a symlink to a dir", M);
	is_int(cdt_path_mkdirs(d->root, "sub/a.txt/q", &fd), 73,
	       "%s: mkdirs through a file", M);
	is_int(cdt_path_mkdirs(d->root, "sub/a.txt", &fd), 73,
	       "%s: mkdirs onto a file", M);
	is_int(cdt_path_mkdirs(d->root, ".cdt/x", &fd), 77,
	       "%s: mkdirs in .cdt", M);
	is_int(cdt_path_mkdirs(d->root, "a//b", &fd), 65,
	       "%s: mkdirs of a bad path", M);
}

static void
test_stat(struct dirs *d)
{
	struct stat st;

	is_int(cdt_path_stat(d->root, "link_abs", &st), 0,
	       "%s: stat a symlink", M);
	ok(S_ISLNK(st.st_mode), "%s: stat reports the symlink itself", M);
	is_int(cdt_path_stat(d->root, "sub", &st), 0, "%s: stat a dir", M);
	ok(S_ISDIR(st.st_mode), "%s: as a dir", M);
	is_int(cdt_path_stat(d->root, "sub/a.txt", &st), 0,
	       "%s: stat a file", M);
	ok(S_ISREG(st.st_mode) && st.st_size == 1, "%s: as a file", M);
	is_int(cdt_path_stat(d->root, "", &st), 0, "%s: stat the root", M);
	ok(S_ISDIR(st.st_mode), "%s: the root is a dir", M);
	is_int(cdt_path_stat(d->root, "missing", &st), 66,
	       "%s: stat missing", M);
	is_int(cdt_path_stat(d->root, "linkdir_rel/secret", &st), 77,
	       "%s: stat through a symlink", M);
	is_int(cdt_path_stat(d->root, ".git", &st), 77, "%s: stat .git", M);
}

/* The full-disk case needs a small file system: a tmpfs of 64 KiB. */
static int
private_mounts(void)
{
	if (unshare(CLONE_NEWNS) < 0) {
		/* Not root: a user namespace gives the same power. */
		uid_t uid = getuid();
		gid_t gid = getgid();
		char map[64];
		int fd;

		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return -1;
		fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "deny", 4) < 0)
				diag("setgroups: %s", strerror(errno));
			close(fd);
		}
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			return -1;
		close(fd);
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		fd = open("/proc/self/gid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			return -1;
		close(fd);
	}
	return mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL);
}

static void
enospc_child(const char *dir)
{
	size_t big = 512 << 10;
	char *data = calloc(1, big);
	int root = -1;
	int rc;
	struct cdt_atomic a = CDT_ATOMIC_INIT;

	if (private_mounts() < 0 ||
	    mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=64k") < 0) {
		ok(0, "%s: ENOSPC: mount a 64k tmpfs (needs root or user "
		   "namespaces): %s", M, strerror(errno));
		return;
	}
	is_int(cdt_path_root_open(dir, &root), 0, "%s: ENOSPC: root on tmpfs",
	       M);
	is_int(cdt_path_write(root, "keep.txt", "old", 3, 0644), 0,
	       "%s: ENOSPC: a small write fits", M);

	rc = cdt_path_write(root, "big.bin", data, big, 0644);
	is_int(rc, 74, "%s: ENOSPC: 512 KiB into 64 KiB", M);
	is_str(last_msg(), "cannot write 'big.bin': No space left on device",
	       "%s: ENOSPC: message names the path", M);
	ok(!exists(pth("%s/big.bin", dir)), "%s: ENOSPC: no target", M);
	is_int(count_entries(pth("%s/.cdt/tmp", dir)), 0,
	       "%s: ENOSPC: no temp file left", M);

	rc = cdt_path_write(root, "keep.txt", data, big, 0644);
	is_int(rc, 74, "%s: ENOSPC: replacing a file", M);
	is_str(slurp(pth("%s/keep.txt", dir)), "old",
	       "%s: ENOSPC: the old content survives whole", M);
	is_int(count_entries(pth("%s/.cdt/tmp", dir)), 0,
	       "%s: ENOSPC: no temp file left", M);

	rc = cdt_atomic_begin(&a, root, "s.bin", 0644);
	for (size_t off = 0; !rc && off < big; off += 8192)
		rc = cdt_atomic_write(&a, data, 8192);
	is_int(rc, 74, "%s: ENOSPC: streaming write fails", M);
	is_int(cdt_atomic_write(&a, "x", 1), 74,
	       "%s: ENOSPC: the failure sticks", M);
	is_int(cdt_atomic_commit(&a), 74, "%s: ENOSPC: commit reports it", M);
	cdt_atomic_abort(&a);
	ok(!exists(pth("%s/s.bin", dir)), "%s: ENOSPC: no target", M);
	is_int(count_entries(pth("%s/.cdt/tmp", dir)), 0,
	       "%s: ENOSPC: commit left no temp file", M);
	is_int(cdt_path_write(root, "after.txt", "ok", 2, 0644), 0,
	       "%s: ENOSPC: the space came back", M);
	free(data);
	close(root);
}

/*
 * Run enospc_child in a child process with its own mount namespace; its
 * TAP lines share stdout and its counts come back through a pipe.
 */
static void
test_enospc(struct dirs *d)
{
	char dir[4200];
	int p[2];
	int counts[2];
	int status = 0;

	snprintf(dir, sizeof(dir), "%s/full", d->top);
	mkd(dir);
	if (pipe(p) < 0) {
		ok(0, "%s: ENOSPC: pipe: %s", M, strerror(errno));
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		enospc_child(dir);
		counts[0] = tap_n;
		counts[1] = tap_failed;
		if (write(p[1], counts, sizeof(counts)) < 0)
			_exit(1);
		fflush(stdout);
		_exit(0);
	}
	close(p[1]);
	ssize_t n = pid > 0 ? read(p[0], counts, sizeof(counts)) : -1;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (n == (ssize_t)sizeof(counts) && WIFEXITED(status)) {
		tap_n = counts[0];
		tap_failed = counts[1];
	} else {
		ok(0, "%s: ENOSPC: the child died (status %d)", M, status);
	}
	rmdir(dir);
}

/* A write past RLIMIT_FSIZE fails with EFBIG: a real I/O error, no root. */
static void
test_efbig(struct dirs *d)
{
	struct rlimit old, lim;
	static char data[64 << 10];
	int rc;

	put(pth("%s/efbig.txt", d->ws), "old");
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 16 << 10;
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	rc = cdt_path_write(d->root, "efbig.txt", data, sizeof(data), 0644);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	is_int(rc, 74, "%s: EFBIG: write past RLIMIT_FSIZE", M);
	is_str(last_msg(), "cannot write 'efbig.txt': File too large",
	       "%s: EFBIG: message", M);
	is_str(slurp(pth("%s/efbig.txt", d->ws)), "old",
	       "%s: EFBIG: the old content survives", M);
	is_int(count_entries(pth("%s/.cdt/tmp", d->ws)), 0,
	       "%s: EFBIG: no temp file left", M);
}

static void
test_write(struct dirs *d)
{
	struct stat st1, st2;
	struct cdt_atomic a = CDT_ATOMIC_INIT;
	char tmp[4200];

	snprintf(tmp, sizeof(tmp), "%s/.cdt/tmp", d->ws);

	ok(!exists(tmp), "%s: no .cdt/tmp before the first write", M);
	is_int(cdt_path_write(d->root, "new/deep/f.txt", "hello", 5, 0644), 0,
	       "%s: write creates parent dirs", M);
	is_str(slurp(pth("%s/new/deep/f.txt", d->ws)), "hello",
	       "%s: with the content", M);
	is_int(perms(pth("%s/new/deep/f.txt", d->ws)), 0644,
	       "%s: and the mode", M);
	is_int(perms(tmp), 0700, "%s: .cdt/tmp is made 0700", M);
	is_int(perms(pth("%s/.cdt", d->ws)), 0700, "%s: .cdt is made 0700",
	       M);
	is_int(count_entries(tmp), 0, "%s: no temp file left", M);

	lstat(pth("%s/sub/a.txt", d->ws), &st1);
	is_int(cdt_path_write(d->root, "sub/a.txt", "B", 1, 0644), 0,
	       "%s: write replaces a file", M);
	lstat(pth("%s/sub/a.txt", d->ws), &st2);
	is_str(slurp(pth("%s/sub/a.txt", d->ws)), "B", "%s: new content", M);
	ok(st1.st_ino != st2.st_ino, "%s: by rename (a new inode)", M);
	is_int(count_entries(tmp), 0, "%s: no temp file left", M);
	is_int(cdt_path_write(d->root, "empty.txt", "", 0, 0644), 0,
	       "%s: an empty write", M);
	is_str(slurp(pth("%s/empty.txt", d->ws)), "", "%s: empty file", M);

	is_int(cdt_path_write(d->root, "sub", "x", 1, 0644), 73,
	       "%s: write onto a directory is 73", M);
	is_str(last_msg(), "cannot write 'sub': Is a directory",
	       "%s: write onto a directory: message", M);
	is_str(slurp(pth("%s/sub/a.txt", d->ws)), "B",
	       "%s: the directory is intact", M);

	/* through symlinks: refused, nothing written or created outside */
	is_int(cdt_path_write(d->root, "link_abs", "x", 1, 0644), 77,
	       "%s: write to a symlink (absolute)", M);
	is_str(last_msg(), "refusing 'link_abs': symlink in path",
	       "%s: symlink message", M);
	is_int(cdt_path_write(d->root, "link_rel", "x", 1, 0644), 77,
	       "%s: write to a symlink (relative)", M);
	is_str(slurp(pth("%s/secret", d->out)), "S",
	       "%s: the outside file is untouched", M);
	ok(lstat(pth("%s/link_abs", d->ws), &st1) == 0 &&
	   S_ISLNK(st1.st_mode), "%s: the symlink is still there", M);
	is_int(cdt_path_write(d->root, "dangling", "x", 1, 0644), 77,
	       "%s: write to a dangling symlink", M);
	ok(!exists(pth("%s/newfile", d->out)), "%s: nothing created outside",
	   M);
	is_int(cdt_path_write(d->root, "d/escdir/x", "x", 1, 0644), 77,
	       "%s: write under a middle symlink", M);
	is_int(cdt_path_write(d->root, "linkdir_rel/new/x", "x", 1, 0644), 77,
	       "%s: write under a first-component symlink", M);
	ok(!exists(pth("%s/x", d->out)) && !exists(pth("%s/new", d->out)),
	   "%s: nothing created outside", M);
	is_int(cdt_path_write(d->root, "procroot/tmp/x", "x", 1, 0644), 77,
	       "%s: write under a /proc/self/root symlink", M);
	is_int(cdt_path_write(d->root, "fifo", "x", 1, 0644), 65,
	       "%s: write onto a FIFO", M);
	is_int(cdt_path_write(d->root, ".git/config", "x", 1, 0644), 77,
	       "%s: write .git/config", M);
	is_str(slurp(pth("%s/.git/config", d->ws)), "git",
	       "%s: .git/config untouched", M);
	is_int(cdt_path_write(d->root, ".cdt/tmp/x", "x", 1, 0644), 77,
	       "%s: write into .cdt", M);
	is_int(cdt_path_write(d->root, "a/./b", "x", 1, 0644), 65,
	       "%s: write a bad path", M);
	is_int(count_entries(tmp), 0, "%s: no temp file left", M);

	/* P30: the hard link is replaced, the outside file keeps its bytes */
	is_int(cdt_path_write(d->root, "hl", "H", 1, 0644), 0,
	       "%s: P30 write over a hard link", M);
	is_str(slurp(pth("%s/hl", d->ws)), "H", "%s: P30 new content", M);
	is_str(slurp(pth("%s/secret", d->out)), "S",
	       "%s: P30 the outside file is untouched", M);

	/* modes */
	chmod(pth("%s/sub/a.txt", d->ws), 0755);
	is_int(cdt_path_write(d->root, "sub/a.txt", "C", 1,
			      0644 | CDT_PATH_MODE_KEEP), 0,
	       "%s: write with MODE_KEEP", M);
	is_int(perms(pth("%s/sub/a.txt", d->ws)), 0755,
	       "%s: MODE_KEEP keeps an existing file's mode", M);
	is_int(cdt_path_write(d->root, "sub/a.txt", "D", 1, 0600), 0,
	       "%s: write without MODE_KEEP", M);
	is_int(perms(pth("%s/sub/a.txt", d->ws)), 0600,
	       "%s: the mode given replaces it", M);
	is_int(cdt_path_write(d->root, "m.txt", "m", 1,
			      0640 | CDT_PATH_MODE_KEEP), 0,
	       "%s: MODE_KEEP on a new file", M);
	is_int(perms(pth("%s/m.txt", d->ws)), 0640,
	       "%s: a new file gets the mode", M);
	is_int(cdt_path_write(d->root, "um.txt", "m", 1, 0666), 0,
	       "%s: write 0666", M);
	is_int(perms(pth("%s/um.txt", d->ws)), 0644, "%s: less umask 022", M);

	/* streaming: the old content stays until commit */
	put(pth("%s/stream.txt", d->ws), "old");
	is_int(cdt_atomic_begin(&a, d->root, "stream.txt", 0644), 0,
	       "%s: atomic begin", M);
	is_int(cdt_atomic_write(&a, "one", 3), 0, "%s: atomic write", M);
	is_int(cdt_atomic_write(&a, "two", 3), 0, "%s: atomic write", M);
	is_str(slurp(pth("%s/stream.txt", d->ws)), "old",
	       "%s: before commit the target holds the old content", M);
	is_int(count_entries(tmp), 1, "%s: one temp file meanwhile", M);
	is_int(cdt_atomic_commit(&a), 0, "%s: atomic commit", M);
	is_str(slurp(pth("%s/stream.txt", d->ws)), "onetwo",
	       "%s: after commit the new content", M);
	is_int(count_entries(tmp), 0, "%s: no temp file left", M);
	cdt_atomic_abort(&a);
	is_str(slurp(pth("%s/stream.txt", d->ws)), "onetwo",
	       "%s: abort after commit changes nothing", M);
	is_int(cdt_atomic_commit(&a), 70, "%s: commit after commit is 70", M);

	/* a large streamed write */
	size_t chunk = 65536, total = 48 * chunk;
	unsigned char *buf = malloc(chunk);
	int rc = cdt_atomic_begin(&a, d->root, "big/large.bin", 0644);
	for (size_t off = 0; !rc && off < total; off += chunk) {
		for (size_t i = 0; i < chunk; i++)
			buf[i] = (unsigned char)((off + i) * 7 >> 3);
		rc = cdt_atomic_write(&a, buf, chunk);
	}
	if (!rc)
		rc = cdt_atomic_commit(&a);
	cdt_atomic_abort(&a);
	is_int(rc, 0, "%s: a 3 MiB streamed write", M);
	int fd = open(pth("%s/big/large.bin", d->ws), O_RDONLY);
	size_t bad = 0, off = 0;
	ssize_t n;
	while (fd >= 0 && (n = read(fd, buf, chunk)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			bad += buf[i] != (unsigned char)((off + (size_t)i) *
							 7 >> 3);
		off += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	ok(off == total && bad == 0, "%s: every byte arrived (%zu of %zu)",
	   M, off, total);
	free(buf);

	/* abort */
	is_int(cdt_atomic_begin(&a, d->root, "ab.txt", 0644), 0,
	       "%s: begin for abort", M);
	is_int(cdt_atomic_write(&a, "zz", 2), 0, "%s: write for abort", M);
	cdt_atomic_abort(&a);
	ok(!exists(pth("%s/ab.txt", d->ws)), "%s: abort leaves no target",
	   M);
	is_int(count_entries(tmp), 0, "%s: abort leaves no temp file", M);
	cdt_atomic_abort(&a);
	ok(a.fd == -1 && a.rel == NULL, "%s: abort twice is harmless", M);
	is_int(cdt_atomic_write(&a, "x", 1), 70,
	       "%s: write after abort is 70", M);
	cdt_atomic_abort(&a);
	is_int(cdt_atomic_commit(&a), 70, "%s: commit after abort is 70", M);
	ok(!exists(pth("%s/ab.txt", d->ws)), "%s: and creates nothing", M);

	is_int(cdt_atomic_begin(&a, d->root, "sub", 0644), 73,
	       "%s: begin onto a dir fails", M);
	ok(a.fd == -1 && a.rel == NULL && a.dirfd == -1 && !a.tmpname[0],
	   "%s: a failed begin holds nothing", M);
	cdt_atomic_abort(&a);

	/* commit re-checks the target */
	is_int(cdt_atomic_begin(&a, d->root, "late", 0644), 0,
	       "%s: begin, then a dir appears at the target", M);
	mkd(pth("%s/late", d->ws));
	is_int(cdt_atomic_commit(&a), 73, "%s: commit refuses the dir", M);
	is_int(count_entries(tmp), 0, "%s: and leaves no temp file", M);
	rmdir(pth("%s/late", d->ws));
	is_int(cdt_atomic_begin(&a, d->root, "late", 0644), 0,
	       "%s: begin, then a symlink appears at the target", M);
	sym(pth("%s/secret", d->out), pth("%s/late", d->ws));
	is_int(cdt_atomic_commit(&a), 77, "%s: commit refuses the symlink",
	       M);
	is_str(slurp(pth("%s/secret", d->out)), "S",
	       "%s: the outside file is untouched", M);
	unlink(pth("%s/late", d->ws));

	/* a planted .cdt or .cdt/tmp symlink is refused */
	rm_rf(pth("%s/.cdt", d->ws));
	sym(pth("%s/dir", d->out), pth("%s/.cdt", d->ws));
	is_int(cdt_path_write(d->root, "z.txt", "z", 1, 0644), 77,
	       "%s: .cdt is a symlink", M);
	is_str(last_msg(), "refusing '.cdt/tmp': symlink in path",
	       "%s: .cdt symlink message", M);
	unlink(pth("%s/.cdt", d->ws));
	mkd(pth("%s/.cdt", d->ws));
	sym(pth("%s/dir", d->out), pth("%s/.cdt/tmp", d->ws));
	is_int(cdt_path_write(d->root, "z.txt", "z", 1, 0644), 77,
	       "%s: .cdt/tmp is a symlink", M);
	is_int(count_entries(pth("%s/dir", d->out)), 1,
	       "%s: nothing written to the symlink's target", M);
	ok(!exists(pth("%s/z.txt", d->ws)), "%s: and no target", M);
	unlink(pth("%s/.cdt/tmp", d->ws));

	test_efbig(d);
	test_enospc(d);
}

static void
test_remove(struct dirs *d)
{
	is_int(cdt_path_unlink(d->root, "fresh.txt"), 0, "%s: unlink", M);
	ok(!exists(pth("%s/fresh.txt", d->ws)), "%s: unlinked", M);
	is_int(cdt_path_unlink(d->root, "missing"), 66, "%s: unlink missing",
	       M);
	is_int(cdt_path_unlink(d->root, "sub"), 73, "%s: unlink a dir", M);
	is_str(last_msg(), "cannot remove 'sub': Is a directory",
	       "%s: unlink a dir: message", M);
	is_int(cdt_path_unlink(d->root, "link_abs"), 0,
	       "%s: unlink a symlink", M);
	ok(!exists(pth("%s/link_abs", d->ws)) &&
	   exists(pth("%s/secret", d->out)),
	   "%s: the link is gone, its target is not", M);
	is_int(cdt_path_unlink(d->root, "linkdir_rel/secret"), 77,
	       "%s: unlink through a symlink", M);
	ok(exists(pth("%s/secret", d->out)), "%s: the outside file stays", M);
	is_int(cdt_path_unlink(d->root, ".git/config"), 77,
	       "%s: unlink .git/config", M);

	mkd(pth("%s/emptyd", d->ws));
	is_int(cdt_path_remove(d->root, "emptyd", false), 0,
	       "%s: remove an empty dir", M);
	ok(!exists(pth("%s/emptyd", d->ws)), "%s: removed", M);

	mkd(pth("%s/tree", d->ws));
	mkd(pth("%s/tree/a", d->ws));
	mkd(pth("%s/tree/a/b", d->ws));
	put(pth("%s/tree/f", d->ws), "f");
	put(pth("%s/tree/a/b/g", d->ws), "g");
	sym(pth("%s/dir", d->out), pth("%s/tree/a/out", d->ws));
	sym(pth("%s/secret", d->out), pth("%s/tree/s", d->ws));
	is_int(cdt_path_remove(d->root, "tree", false), 73,
	       "%s: remove a non-empty dir without recursive", M);
	is_str(last_msg(), "cannot remove 'tree': Directory not empty",
	       "%s: message", M);
	is_int(cdt_path_remove(d->root, "tree", true), 0,
	       "%s: remove -r", M);
	ok(!exists(pth("%s/tree", d->ws)), "%s: the tree is gone", M);
	ok(exists(pth("%s/secret", d->out)) &&
	   count_entries(pth("%s/dir", d->out)) == 1,
	   "%s: symlinked targets outside are untouched", M);
	is_int(cdt_path_remove(d->root, ".git", true), 77,
	       "%s: remove -r .git", M);
	ok(exists(pth("%s/.git/config", d->ws)), "%s: .git intact", M);
	is_int(cdt_path_remove(d->root, "link_in", true), 0,
	       "%s: remove -r of a symlink to a dir", M);
	ok(!exists(pth("%s/link_in", d->ws)) &&
	   exists(pth("%s/sub/a.txt", d->ws)),
	   "%s: removes the link, not the dir", M);
	is_int(cdt_path_remove(d->root, "d/escdir", true), 0,
	       "%s: remove -r of a symlink to outside", M);
	ok(count_entries(pth("%s/dir", d->out)) == 1 &&
	   exists(pth("%s/secret", d->out)), "%s: outside untouched", M);
	is_int(cdt_path_remove(d->root, "missing", true), 66,
	       "%s: remove missing", M);
}

static void
test_rename(struct dirs *d)
{
	put(pth("%s/r1", d->ws), "R");
	is_int(cdt_path_rename(d->root, "r1", "rn/a/b", false), 0,
	       "%s: rename creates parents", M);
	ok(!exists(pth("%s/r1", d->ws)) &&
	   !strcmp(slurp(pth("%s/rn/a/b", d->ws)), "R"), "%s: moved", M);

	put(pth("%s/r2", d->ws), "2");
	put(pth("%s/r3", d->ws), "3");
	is_int(cdt_path_rename(d->root, "r2", "r3", true), 73,
	       "%s: noreplace onto an existing file is 73", M);
	is_str(last_msg(), "cannot rename 'r2' to 'r3': File exists",
	       "%s: noreplace message", M);
	ok(!strcmp(slurp(pth("%s/r2", d->ws)), "2") &&
	   !strcmp(slurp(pth("%s/r3", d->ws)), "3"), "%s: both intact", M);
	is_int(cdt_path_rename(d->root, "r2", "dangling", true), 73,
	       "%s: noreplace onto a dangling symlink", M);
	is_int(cdt_path_rename(d->root, "r2", "r3", false), 0,
	       "%s: rename replacing", M);
	ok(!exists(pth("%s/r2", d->ws)) &&
	   !strcmp(slurp(pth("%s/r3", d->ws)), "2"), "%s: replaced", M);

	is_int(cdt_path_rename(d->root, "r3", "linkdir_rel/stolen", false), 77,
	       "%s: rename into a symlinked dir", M);
	ok(!exists(pth("%s/stolen", d->out)) && exists(pth("%s/r3", d->ws)),
	   "%s: nothing moved outside", M);
	is_int(cdt_path_rename(d->root, "linkdir_rel/secret", "stolen", false),
	       77, "%s: rename out of a symlinked dir", M);
	ok(exists(pth("%s/secret", d->out)) && !exists(pth("%s/stolen", d->ws)),
	   "%s: nothing moved in", M);
	is_int(cdt_path_rename(d->root, "r3", ".git/hooks/pre-commit", false),
	       77, "%s: rename into .git", M);
	ok(!exists(pth("%s/.git/hooks", d->ws)), "%s: no hooks dir made", M);
	is_int(cdt_path_rename(d->root, "rn", "rn/a/inside", false), 65,
	       "%s: rename a dir into itself", M);
	is_int(cdt_path_rename(d->root, "missing", "x2", false), 66,
	       "%s: rename missing", M);
	is_int(cdt_path_rename(d->root, "r3", "sub", false), 73,
	       "%s: rename a file onto a dir", M);
	is_int(cdt_path_rename(d->root, "dangling", "moved_link", true), 0,
	       "%s: rename a symlink", M);
	struct stat st;
	ok(lstat(pth("%s/moved_link", d->ws), &st) == 0 &&
	   S_ISLNK(st.st_mode) && !exists(pth("%s/newfile", d->out)),
	   "%s: the link itself moved", M);
	is_int(cdt_path_rename(d->root, "a//b", "c", false), 65,
	       "%s: rename from a bad path", M);
	is_int(cdt_path_rename(d->root, "r3", "/tmp/x", false), 65,
	       "%s: rename to an absolute path", M);
}

/* ---- listing -------------------------------------------------------- */

struct collect {
	struct cdt_buf out;
	int stop_after;	/* 0: never */
	int n;
};

static int
collect_cb(void *ctx, const char *relpath, const struct stat *st)
{
	struct collect *c = ctx;
	char t = S_ISDIR(st->st_mode) ? 'd' : S_ISLNK(st->st_mode) ? 'l' :
		 S_ISREG(st->st_mode) ? 'f' : '?';

	cdt_buf_addf(&c->out, "%s %c\n", relpath, t);
	if (c->stop_after && ++c->n >= c->stop_after)
		return EX_TEMPFAIL;
	return 0;
}

static int
list(struct dirs *d, int root, const char *rel, bool rec, char **out)
{
	struct collect c = { CDT_BUF_INIT, 0, 0 };
	int rc = cdt_path_list(root, rel, rec, collect_cb, &c);

	*out = cdt_buf_detach(&c.out, NULL);
	return rc;
}

static void
test_list(struct dirs *d)
{
	char l[4200];
	int root = -1;
	char *got = NULL;
	char *again = NULL;

	snprintf(l, sizeof(l), "%s/lst", d->top);
	mkd(l);
	mkd(pth("%s/.git", l));
	put(pth("%s/.git/HEAD", l), "ref");
	mkd(pth("%s/.Git", l));
	mkd(pth("%s/.cdt", l));
	mkd(pth("%s/.cdt/tmp", l));
	put(pth("%s/b.txt", l), "b");
	mkd(pth("%s/a", l));
	put(pth("%s/a/x", l), "x");
	mkd(pth("%s/a/y", l));
	put(pth("%s/a/y/z", l), "z");
	put(pth("%s/a.txt", l), "a");
	put(pth("%s/a-b", l), "-");
	sym(pth("%s/dir", d->out), pth("%s/lnk", l));
	put(pth("%s/bad\\name", l), "?");
	put(pth("%s/ctl\x01name", l), "?");
	mkd(pth("%s/a/.git", l));

	is_int(cdt_path_root_open(l, &root), 0, "%s: list: root", M);
	is_int(list(d, root, "", true, &got), 0, "%s: list -r", M);
	is_str(got, "a d\na/.git d\na/x f\na/y d\na/y/z f\na-b f\na.txt f\n"
	       "b.txt f\nlnk l\n",
	       "%s: list -r: sorted, depth-first, no .git/.cdt at the root, "
	       "no bad names, symlink not entered", M);
	is_int(list(d, root, "", true, &again), 0, "%s: list -r again", M);
	is_str(again, got, "%s: the same output twice", M);
	free(got);
	free(again);
	is_int(list(d, root, "", false, &got), 0, "%s: list", M);
	is_str(got, "a d\na-b f\na.txt f\nb.txt f\nlnk l\n",
	       "%s: list without -r", M);
	free(got);
	is_int(list(d, root, "a", true, &got), 0, "%s: list -r a", M);
	is_str(got, "a/.git d\na/x f\na/y d\na/y/z f\n",
	       "%s: list -r a (a nested .git is listed)", M);
	free(got);
	is_int(list(d, root, "a/x", true, &got), 0, "%s: list a file", M);
	is_str(got, "a/x f\n", "%s: a file lists itself", M);
	free(got);
	is_int(list(d, root, "lnk", true, &got), 0, "%s: list a symlink", M);
	is_str(got, "lnk l\n", "%s: a symlink lists itself", M);
	free(got);
	is_int(list(d, root, "lnk/keep", false, &got), 77,
	       "%s: list through a symlink", M);
	free(got);
	is_int(list(d, root, "missing", false, &got), 66,
	       "%s: list missing", M);
	free(got);
	is_int(list(d, root, ".git", false, &got), 77, "%s: list .git", M);
	free(got);

	struct collect c = { CDT_BUF_INIT, 2, 0 };
	is_int(cdt_path_list(root, "", true, collect_cb, &c), EX_TEMPFAIL,
	       "%s: a callback's status stops the listing", M);
	is_str(c.out.buf, "a d\na/.git d\n", "%s: after two entries", M);
	cdt_buf_release(&c.out);
	close(root);
}

static void
battery(const char *label, bool fallback)
{
	struct dirs d;

	M = label;
	if (fallback)
		setenv("CDT_TEST_NO_OPENAT2", "1", 1);
	else
		unsetenv("CDT_TEST_NO_OPENAT2");
	is_int(cdt_path_openat2(), !fallback, "%s: openat2 in use: %s", M,
	       fallback ? "no" : "yes");
	setup(&d, label);
	test_root_open(&d);
	if (d.root < 0)
		return;
	test_open(&d);
	test_mkdirs(&d);
	test_stat(&d);
	test_write(&d);
	test_remove(&d);
	test_rename(&d);
	test_list(&d);
	close(d.root);
}

int
main(void)
{
	/* A FIFO opened the blocking way would hang: fail instead. */
	alarm(120);
	umask(022);
	cdt_err_quiet(true);
	/* The lister warns about the bad names planted for it. */
	cdt_log_set_level(CDT_LOG_ERROR);
	if (!mkdtemp(topdir)) {
		diag("mkdtemp: %s", strerror(errno));
		return 1;
	}
	test_lexical();

	battery("openat2", false);
	/* Under valgrind 3.19 openat2 answers ENOSYS: the walk is used. */
	bool kernel_openat2 = cdt_path_openat2();
	if (!kernel_openat2)
		diag("openat2 is not available here: both batteries walked");
	battery("walk", true);

	unsetenv("CDT_TEST_NO_OPENAT2");
	cdt_path_force_fallback(true);
	ok(!cdt_path_openat2(), "force_fallback(true) turns openat2 off");
	cdt_path_force_fallback(false);
	ok(cdt_path_openat2() == kernel_openat2,
	   "force_fallback(false) turns it back on");

	rm_rf(topdir);
	ok(!exists(topdir), "the test tree is removed");
	return done_testing();
}
