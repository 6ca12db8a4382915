/*
 * objstore.h - a workspace's files on a storage backend: a local
 * directory, or a key prefix in an S3-compatible bucket.
 *
 * Paths are workspace paths (path.h): every call checks them with the
 * lexical validator first (65, or 77 for .git/.cdt), so no backend ever
 * sees "..", an absolute path or a control character.
 *
 * local: every operation goes through path.h beneath the root's fd (no
 * symlink followed in any component; writes atomic under .cdt/tmp).  On
 * top of path.h, what only resolution finds is 77: reading or writing a
 * symlink, a FIFO, socket or device (never opened, so never blocking), or
 * a regular file with more than one link (a hard link may alias a file
 * outside the root).
 *
 * s3: objects under "PREFIX/" in one bucket, over libcurl with SigV4
 * (CURLOPT_AWS_SIGV4, x-amz-content-sha256 always set).  Each key segment
 * is percent-encoded here (RFC 3986 unreserved bytes kept), query strings
 * are sorted and encoded here, and the path is sent as is, so "/../" is
 * never collapsed on the way.  Listings use ListObjectsV2 with prefix,
 * delimiter and continuation tokens; a key that does not start with
 * "PREFIX/", or that the validator rejects, is dropped (with a warning).
 * Directories are implied by keys ("a/b" makes "a" a directory) or by
 * zero-byte "dir/" markers.  Symlinks do not exist there (73 to create).
 * A 5xx, a 429 or a broken connection is retried (3 times, 0.2 s
 * doubling); then 403 is 77, 404 is 66, 5xx and no connection 75, 400 65.
 * Uploads stage into one unlinked temp file under $CDT_HOME/tmp and PUT
 * from a map of it, with the body's sha256 signed; objects up to 5 GiB.
 * Content-Type follows DESIGN §6 (application/octet-stream when binary).
 *
 * Statuses as in path.h; every failure is reported once with cdt_err.
 */
#ifndef CDT_OBJSTORE_H
#define CDT_OBJSTORE_H

#include "compat.h"
#include <sys/types.h>
#include "buf.h"
#include "http.h"

struct cdt_cfg;

enum cdt_objstore_kind {
	CDT_OBJSTORE_LOCAL = 0,
	CDT_OBJSTORE_S3,
};

enum cdt_node {
	CDT_NODE_FILE = 0,
	CDT_NODE_DIR,
	CDT_NODE_SYMLINK,
	CDT_NODE_OTHER,		/* FIFO, socket, device (local only) */
};

/* What stat and list report.  Strings live until the callback returns. */
struct cdt_objinfo {
	const char *path;	/* the workspace path ("" for the root) */
	enum cdt_node node;
	uint64_t size;		/* files */
	int64_t mtime;		/* seconds since the epoch; -1 unknown */
	unsigned long nlink;	/* local; 1 on s3 */
	const char *target;	/* symlinks; else NULL */
	const char *etag;	/* s3: the ETag without quotes; else NULL */
};

/* Where an S3 workspace lives.  Strings are not copied by open. */
struct cdt_s3_conf {
	const char *endpoint;	/* "https://host[:port]"; NULL: AWS */
	const char *bucket;
	const char *region;	/* NULL: us-east-1 */
	const char *prefix;	/* "a/b" (no leading or trailing '/'), or
				   "" for the whole bucket */
	const char *access_key;	/* secrets: wiped when the store is freed */
	const char *secret_key;
	const char *session_token;	/* or NULL */
	bool path_style;	/* endpoint/bucket/key, not bucket.endpoint */
	const char *date;	/* tests: a pinned x-amz-date; NULL: now */
	int retries;		/* -1: the default (3) */
	long retry_ms;		/* first back-off; 0: 200 ms */
};

struct cdt_objstore;
struct cdt_objput;

/* A local workspace: the directory dir (66 when missing). */
int cdt_objstore_open_local(const char *dir, struct cdt_objstore **out);
/* An S3 workspace; nothing is sent yet (78 for a bad conf). */
int cdt_objstore_open_s3(const struct cdt_s3_conf *conf,
			 struct cdt_objstore **out);
/*
 * Where -C points: "s3://BUCKET[/PREFIX]" opens S3 with the bucket and
 * prefix of the URL and the rest from cfg's storage.s3 section (endpoint,
 * region, path_style, and the names of the variables holding the keys:
 * access_key_env, default AWS_ACCESS_KEY_ID; secret_key_env, default
 * AWS_SECRET_ACCESS_KEY; AWS_SESSION_TOKEN when set); anything else is a
 * local directory.  64 for a malformed URL, 78 for missing keys.
 */
int cdt_objstore_open_where(const char *where, const struct cdt_cfg *cfg,
			    struct cdt_objstore **out);
void cdt_objstore_free(struct cdt_objstore *os);

enum cdt_objstore_kind cdt_objstore_kind(const struct cdt_objstore *os);
/* "DIR" or "s3://BUCKET/PREFIX", for messages. */
const char *cdt_objstore_name(const struct cdt_objstore *os);

/* Stat rel ("" = the root, always a directory); 66 when absent. */
int cdt_objstore_stat(struct cdt_objstore *os, const char *rel,
		      struct cdt_objinfo *info);

/*
 * Call cb for each entry below the directory rel ("" = the root), in
 * path.h's order (a, a/x, a.txt: depth-first, names in strcmp order);
 * .git and .cdt at the root are left out.  When rel is not a directory,
 * cb is called once for rel.  A non-zero return from cb stops the
 * listing and is returned.
 */
typedef int (*cdt_objstore_list_cb)(void *ctx, const struct cdt_objinfo *in);
int cdt_objstore_list(struct cdt_objstore *os, const char *rel,
		      bool recursive, cdt_objstore_list_cb cb, void *ctx);

/*
 * Stream the bytes of the regular file rel to sink.  A directory is 65
 * ("is a directory"); a symlink, special file or multi-link file 77.
 * info (may be NULL) gets what was known before the bytes.
 */
typedef int (*cdt_objstore_sink)(void *ctx, const void *data, size_t len);
int cdt_objstore_get(struct cdt_objstore *os, const char *rel,
		     cdt_objstore_sink sink, void *ctx,
		     struct cdt_objinfo *info);

/*
 * Staged writes: begin checks rel (a symlink, special or multi-link file
 * in the way is 77, a directory 73) and opens a stage; write appends;
 * commit puts the whole file in place at once (local: fsync, rename,
 * fsync of the directory; s3: one PUT) and frees p; abort drops the
 * stage and frees p (NULL is fine).  Many stages may be open at once, so
 * a caller can stage a whole set before committing any; on s3 only the
 * most recently begun one may be written to.  The sha256 and size of
 * what was written are kept for commit's caller.
 */
int cdt_objstore_put_begin(struct cdt_objstore *os, const char *rel,
			   struct cdt_objput **p);
int cdt_objstore_put_write(struct cdt_objput *p, const void *data,
			   size_t len);
/*
 * The hex sha256 and size of the staged bytes (call after the last
 * write); cdt_objstore_put_md5 gives their MD5, to hold against an S3
 * ETag, and false when none could be had.
 */
void cdt_objstore_put_digest(struct cdt_objput *p, char hex[65],
			     uint64_t *size);
bool cdt_objstore_put_md5(struct cdt_objput *p, char md5[33]);
/*
 * Whether rel already holds exactly the staged bytes (after the last
 * write): the same size, then the same sha256 read back (local), or the
 * object's ETag equal to their MD5 (s3; an ETag that is no MD5, from a
 * multipart or encrypted upload, is read back and hashed).  An absent
 * rel, or one that is not a regular file, is not the same.
 */
int cdt_objstore_put_same(struct cdt_objput *p, bool *same);
int cdt_objstore_put_commit(struct cdt_objput *p);
void cdt_objstore_put_abort(struct cdt_objput *p);
/*
 * Make the bytes of every open stage durable at once, before a run of
 * commits (local: one syncfs(2), so each commit's own fsync finds
 * nothing left to write; s3: nothing to do).  Only a speed-up: commit
 * stays durable without it.
 */
int cdt_objstore_flush(struct cdt_objstore *os);
/* begin, write, commit in one. */
int cdt_objstore_put(struct cdt_objstore *os, const char *rel,
		     const void *data, size_t len);

/* mkdir -p (s3: a "rel/" marker object when nothing is below rel). */
int cdt_objstore_mkdir(struct cdt_objstore *os, const char *rel);
/*
 * Make rel a symlink to target, replacing a file or symlink atomically.
 * target must be relative and, taken from rel's directory, stay beneath
 * the root and out of .git and .cdt: else 77 (65 when it is lexically
 * bad in another way).  s3: 73.
 */
int cdt_objstore_symlink(struct cdt_objstore *os, const char *rel,
			 const char *target);
/* Check a symlink target for rel as cdt_objstore_symlink does. */
int cdt_objstore_check_target(const char *rel, const char *target);

/* Remove a file, a symlink, or with recursive a whole directory. */
int cdt_objstore_remove(struct cdt_objstore *os, const char *rel,
			bool recursive);
/* Rename (s3: copy, then delete; a directory key by key). */
int cdt_objstore_rename(struct cdt_objstore *os, const char *from,
			const char *to, bool noreplace);

/* ---- S3 pieces, exported for the tests ----------------------------- */

/*
 * One signed S3 request: key NULL or "" means the bucket itself; query
 * is name, value pairs (NULL-ended; value NULL for a bare name), sorted
 * and encoded here; headers are extra "Name: value" lines (signed).
 * payload_sha256 is the hex digest of body (NULL: computed here).
 * Retries as described above; resp holds the last response.  Returns 0
 * when a response arrived (any status) or the status of the transport.
 */
struct cdt_s3_req {
	const char *method;
	const char *key;	/* the whole key, prefix included */
	const char *const *query;
	const char *const *headers;
	const char *body;
	size_t body_len;
	const char *payload_sha256;
	cdt_http_body_cb body_cb;	/* a 2xx body, streamed */
	void *body_ctx;
};
int cdt_s3_request(struct cdt_objstore *os, const struct cdt_s3_req *r,
		   struct cdt_http_resp *resp);

/* Append s percent-encoded (RFC 3986 unreserved kept; '/' kept when
 * keep_slash). */
int cdt_s3_encode(struct cdt_buf *out, const char *s, size_t len,
		  bool keep_slash);

/*
 * One page of a ListObjectsV2 answer: calls entry for each Contents key
 * (is_prefix false, with size, mtime and etag) and each CommonPrefixes
 * prefix (is_prefix true), in document order, keys decoded (XML entities,
 * and percent-encoding when the answer says EncodingType url).  *next
 * gets NextContinuationToken when IsTruncated is true (else freed and
 * NULL).  65 for XML it cannot read.
 */
typedef int (*cdt_s3_list_entry)(void *ctx, const char *key, size_t len,
				 bool is_prefix, uint64_t size,
				 int64_t mtime, const char *etag);
int cdt_s3_parse_list(const char *xml, size_t len, cdt_s3_list_entry entry,
		      void *ctx, char **next);
/* Code and Message of an S3 error body, or "" (out has room for n). */
void cdt_s3_parse_error(const char *xml, size_t len, char *code,
			size_t codelen, char *msg, size_t msglen);

#include "banned.h"
#endif
