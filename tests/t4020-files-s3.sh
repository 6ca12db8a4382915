#!/bin/bash
# cdt-files on S3 against s3rver, cross-checked with an independent
# client (awscli): what cdt-files writes aws reads, what aws uploads
# cdt-files lists and reads; paging past 1000 keys; sync both ways; every
# failure (403, 404, 5xx, refused, dropped) as one line and its code; and
# every kind of request cdt-files sends, captured and its SigV4 signature
# recomputed from the spec (s3rver does not verify signatures).
. "$(dirname "$0")/lib.sh"

. "$SRC/tests/fixtures/s3rver.sh"
export CDT_CONFIG=$S3CONFIG S3E S3WORK
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
# awscli, with no host configuration leaking in.
aws() {
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 \
		/usr/bin/aws --endpoint-url "$S3E" "$@"
}
export -f aws

t_case 'awscli is installed (make deps)' '/usr/bin/aws --version'

t_case 'what cdt-files writes, aws s3 cp reads back' '
	head -c 3000 /dev/urandom >blob &&
	jq -cn --arg b "$(base64 -w0 blob)" "
		{type: \"file\", path: \"a/b.txt\", content: \"hi\n\"},
		{type: \"file\", path: \"d ir/h\u00e9llo \u2603+&=.md\", content: \"# uni\n\"},
		{type: \"file\", path: \"bin/blob\", content_base64: \$b}" |
		cdt-files -C s3://bkt/w1 write >out 2>err &&
	t_lines 3 out &&
	aws s3 cp s3://bkt/w1/a/b.txt - >got && printf "hi\n" >want && t_cmp want got &&
	aws s3 cp "s3://bkt/w1/d ir/héllo ☃+&=.md" - >got && printf "# uni\n" >want &&
	t_cmp want got &&
	aws s3 cp s3://bkt/w1/bin/blob - | cmp - blob &&
	aws s3api head-object --bucket bkt --key "w1/d ir/héllo ☃+&=.md" >h &&
	jq -e ".ContentType == \"text/markdown\"" h &&
	aws s3api head-object --bucket bkt --key w1/bin/blob >h &&
	jq -e ".ContentType == \"application/octet-stream\"" h
'

t_case 'what aws uploads, cdt-files lists and reads' '
	mkdir -p up/x/y && echo one >up/1.txt && echo deep >"up/x/y/z z.c" &&
	printf "\0\1\2" >up/x/b.bin &&
	aws s3 cp --recursive --quiet up s3://bkt/w2/ &&
	cdt-files -C s3://bkt/w2 ls -r | jq -r "[.path, .node_type, .size] | @tsv" >got &&
	printf "%s\n" "1.txt	file	4" "x	directory	" "x/b.bin	file	3" \
		"x/y	directory	" "x/y/z z.c	file	5" >want && t_cmp want got &&
	cdt-files -C s3://bkt/w2 read -r x | jq -r "[.path, .sha256] | @tsv" >got &&
	printf "%s\t%s\n" x/b.bin "$(sha256sum <up/x/b.bin | cut -c1-64)" \
		"x/y/z z.c" "$(sha256sum <"up/x/y/z z.c" | cut -c1-64)" >want &&
	t_cmp want got
'

t_case 'a listing past 1000 keys follows the continuation tokens' '
	for i in $(seq 1 1100); do
		printf "{\"type\":\"file\",\"path\":\"p/%04d\",\"content\":\"%d\"}\n" $i $i
	done | cdt-files -C s3://bkt/w3 write >out 2>err &&
	t_lines 1100 out &&
	aws s3 ls --recursive s3://bkt/w3/ | wc -l >n && [ "$(cat n)" = 1100 ] &&
	cdt-files -C s3://bkt/w3 ls p | wc -l >n && [ "$(cat n)" = 1100 ] &&
	cdt-files -C s3://bkt/w3 ls -r | jq -r .path >paths &&
	[ "$(wc -l <paths)" = 1101 ] && [ "$(sed -n 1101p paths)" = p/1100 ]
'

t_case 'sync --to s3 and back --to local; unchanged the second time; --delete' '
	mkdir -p ws/src ws/empty && echo a >ws/src/a.c && echo b >ws/b.md &&
	ln -s b.md ws/lnk &&
	cdt-files -C ws sync --to s3 s3://bkt/w4 >out 2>err &&
	t_grep "skipping symlink .lnk." err &&
	jq -r "select(.node_type == \"file\") | [.path, .unchanged] | @tsv" out >got &&
	printf "b.md\tfalse\nsrc/a.c\tfalse\n" >want && t_cmp want got &&
	cdt-files -C ws sync --to s3 s3://bkt/w4 >out 2>err &&
	jq -r "[.path, .unchanged] | @tsv" out >got &&
	printf "b.md\ttrue\nsrc/a.c\ttrue\n" >want && t_cmp want got &&
	echo changed >ws/src/a.c &&
	cdt-files -C ws sync --to s3 s3://bkt/w4 >out 2>err &&
	jq -r "[.path, .unchanged] | @tsv" out >got &&
	printf "b.md\ttrue\nsrc/a.c\tfalse\n" >want && t_cmp want got &&
	[ "$(aws s3 cp s3://bkt/w4/src/a.c -)" = changed ] && echo a >ws/src/a.c &&
	cdt-files -C ws sync --to s3 s3://bkt/w4 >/dev/null 2>err &&
	cdt-files -C s3://bkt/w4 sync --to local back >out 2>err &&
	[ "$(cat back/src/a.c)" = a ] && [ "$(cat back/b.md)" = b ] && [ -d back/empty ] &&
	rm ws/b.md && echo new >ws/src/n.c &&
	cdt-files -C ws sync --to s3 --delete s3://bkt/w4 >out 2>err &&
	jq -r "select(.deleted) | .path" out >got && echo b.md >want && t_cmp want got &&
	aws s3 ls --recursive s3://bkt/w4/ | awk "{print \$4}" | sort >keys &&
	printf "w4/empty/\nw4/src/a.c\nw4/src/n.c\n" >want && t_cmp want keys &&
	t_fails 64 cdt-files -C ws sync --to local s3://bkt/w4 2>err &&
	t_fails 64 cdt-files -C ws sync s3://bkt/w4 2>err
'

t_case 'rm and mv on S3, a directory key by key' '
	jq -cn "{type: \"file\", path: \"d/1\", content: \"1\"},
		{type: \"file\", path: \"d/e/2\", content: \"2\"},
		{type: \"file\", path: \"f\", content: \"f\"}" |
		cdt-files -C s3://bkt/w5 write >/dev/null &&
	t_fails 73 cdt-files -C s3://bkt/w5 mv f d/1 2>err &&
	cdt-files -C s3://bkt/w5 mv d moved >out &&
	jq -e ".path == \"moved\" and .moved_from == \"d\" and .node_type == \"directory\"" out &&
	aws s3 ls --recursive s3://bkt/w5/ | awk "{print \$4}" | sort >keys &&
	printf "w5/f\nw5/moved/1\nw5/moved/e/2\n" >want && t_cmp want keys &&
	t_fails 65 cdt-files -C s3://bkt/w5 rm moved 2>err &&
	cdt-files -C s3://bkt/w5 rm -r moved >/dev/null &&
	cdt-files -C s3://bkt/w5 rm f >/dev/null &&
	aws s3 ls --recursive s3://bkt/w5/ >keys; [ ! -s keys ] &&
	t_fails 66 cdt-files -C s3://bkt/w5 rm f 2>err
'

t_case 'a write killed while stdin streams never sends a PUT: the old object stays' '
	echo OLD | cdt-files -C s3://bkt/w6 write f >/dev/null &&
	{ { head -c 3000000 /dev/zero; sleep 5; } |
		sh -c "echo \$\$ >pid; exec cdt-files -C s3://bkt/w6 write f" \
		>/dev/null 2>&1 & } &&
	while ! [ -s pid ]; do sleep 0.05; done &&
	sleep 1 && kill -9 "$(cat pid)" && wait;
	[ "$(aws s3 cp s3://bkt/w6/f -)" = OLD ] &&
	echo NEW | cdt-files -C s3://bkt/w6 write f >/dev/null &&
	[ "$(aws s3 cp s3://bkt/w6/f -)" = NEW ]
'

# ---- failures --------------------------------------------------------

t_case 'an access key the server does not know: 403 is 77, one line' '
	AWS_ACCESS_KEY_ID=NOBODY t_fails 77 cdt-files -C s3://bkt/w1 ls 2>err >out &&
	t_lines 1 err && t_grep "403 InvalidAccessKeyId" err &&
	jq -e ".code == 77" out
'

t_case 'no such bucket is 66; no credentials 78; a bad location 64' '
	t_fails 66 cdt-files -C s3://nobucket/x read a 2>err && t_lines 1 err &&
	t_grep "no such bucket .nobucket." err &&
	env -u AWS_ACCESS_KEY_ID cdt-files -C s3://bkt/x ls 2>err; [ $? = 78 ] &&
	t_grep "AWS_ACCESS_KEY_ID" err &&
	t_fails 64 cdt-files -C s3:// ls 2>err &&
	t_fails 64 cdt-files -C "s3://bkt/../x" ls 2>err
'

t_case 'nobody listening: 75 after the retries, one line' '
	printf "storage:\n  s3:\n    endpoint: http://127.0.0.1:9\n" >c.yaml &&
	CDT_CONFIG=$PWD/c.yaml t_fails 75 cdt-files -C s3://bkt/x read a 2>err &&
	t_lines 1 err && t_grep "127.0.0.1:9" err
'

# A server that fails on purpose: 503 for every request whose path has
# "busy", a body cut off for "drop", one 500 and then success for "flaky".
cat >"$S3WORK/bad.py" <<'EOF'
import http.server, sys, os
seen = {}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        n = seen[self.path] = seen.get(self.path, 0) + 1
        if "list-type" in self.path:	# listings work: the key exists
            p = self.path.split("prefix=")[1].split("&")[0].replace("%2F", "/")
            x = ("<ListBucketResult><Contents><Key>%s</Key><Size>2</Size>"
                 "</Contents></ListBucketResult>" % p).encode()
            self.send_response(200); self.send_header("Content-Length", str(len(x)))
            self.end_headers(); self.wfile.write(x)
        elif "busy" in self.path:
            self.send_response(503); self.send_header("Content-Length", "0"); self.end_headers()
        elif "drop" in self.path:
            self.send_response(200); self.send_header("Content-Length", "100"); self.end_headers()
            self.wfile.write(b"partial"); self.wfile.flush()
            self.connection.shutdown(2); self.close_connection = True
        elif "flaky" in self.path and n == 1:
            self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers()
        else:
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
            self.wfile.write(b"ok")
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF

t_case '5xx every time is 75, a body cut off is 75, one 500 then fine is 0' '
	python3 "$S3WORK/bad.py" port & srv=$! &&
	for i in $(seq 1 100); do [ -s port ] && break; sleep 0.05; done &&
	printf "storage:\n  s3:\n    endpoint: http://127.0.0.1:%s\n" "$(cat port)" >c.yaml &&
	export CDT_CONFIG=$PWD/c.yaml &&
	{ t_fails 75 cdt-files -C s3://bkt/x read --raw busy 2>err &&
	  t_lines 1 err && t_grep "503" err &&
	  t_fails 75 cdt-files -C s3://bkt/x read --raw drop >out 2>err &&
	  t_lines 1 err &&
	  cdt-files -C s3://bkt/x read --raw flaky >out 2>err && [ "$(cat out)" = ok ]; }
	rc=$?; kill $srv; wait $srv 2>/dev/null; exit $rc
'

# ---- SigV4, recomputed for every kind of request ---------------------

cat >"$S3WORK/capture.py" <<'EOF'
# A stand-in S3 endpoint: answers what cdt-files asks with plausible
# replies and logs each request (head and body) for the signature check.
import http.server, sys, urllib.parse, json
from xml.sax.saxutils import escape
log = open(sys.argv[2], "a")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, code, body=b""):
        self.send_response(code); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def record(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        log.write(json.dumps({"method": self.command, "target": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.hex()}) + "\n"); log.flush()
    def do_GET(self):
        self.record()
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if "list-type" in q:
            p = q.get("prefix", [""])[0]
            key = p + "f.txt" if p.endswith("/") or p == "" else p
            x = ("<ListBucketResult><Contents><Key>%s</Key><Size>5</Size>"
                 "<ETag>&quot;x&quot;</ETag></Contents><IsTruncated>false"
                 "</IsTruncated></ListBucketResult>" % escape(key))
            self.reply(200, x.encode())
        else:
            self.reply(200, b"hello")
    def do_PUT(self): self.record(); self.reply(200)
    def do_DELETE(self): self.record(); self.reply(204)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF

cat >"$S3WORK/sigcheck.py" <<'EOF'
# Recompute each logged request's SigV4 signature from the spec: the path
# decoded and encoded again segment by segment, the query sorted, the
# signed headers as received, the payload hash as sent (and checked
# against the body).  Prints one line per request, MATCH or MISMATCH.
import sys, json, hmac, hashlib, re, urllib.parse
secret = sys.argv[2]
enc = lambda s: urllib.parse.quote(s, safe="-_.~")
for line in open(sys.argv[1]):
    r = json.loads(line)
    h = {}
    for k, v in r["headers"]:
        h.setdefault(k.lower(), v.strip())
    cred, signed, sig = re.match(r"AWS4-HMAC-SHA256 Credential=([^,]+), "
        r"SignedHeaders=([^,]+), Signature=(\w+)", h["authorization"]).groups()
    _, date, reg, svc, _ = cred.split("/")
    path, _, query = r["target"].partition("?")
    cpath = "/".join(enc(urllib.parse.unquote(x)) for x in path.split("/"))
    pairs = [p.partition("=") for p in query.split("&")] if query else []
    cquery = "&".join(sorted("%s=%s" % (enc(urllib.parse.unquote(k)),
        enc(urllib.parse.unquote(v))) for k, _, v in pairs))
    chdr = "".join("%s:%s\n" % (n, h[n]) for n in signed.split(";"))
    payload = h["x-amz-content-sha256"]
    body_ok = payload == hashlib.sha256(bytes.fromhex(r["body"])).hexdigest()
    cr = "\n".join([r["method"], cpath, cquery, chdr, signed, payload])
    sts = "\n".join(["AWS4-HMAC-SHA256", h["x-amz-date"],
        "%s/%s/%s/aws4_request" % (date, reg, svc),
        hashlib.sha256(cr.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for p in (date, reg, svc, "aws4_request"):
        k = hmac.new(k, p.encode(), hashlib.sha256).digest()
    good = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest() == sig
    print("%s %s %s %s" % ("MATCH" if good and body_ok else "MISMATCH",
        "body-ok" if body_ok else "BODY-HASH-WRONG", r["method"], r["target"]))
EOF

t_case 'every request kind is signed as SigV4 says (recomputed)' '
	python3 "$S3WORK/capture.py" port reqs & srv=$! &&
	for i in $(seq 1 100); do [ -s port ] && break; sleep 0.05; done &&
	printf "storage:\n  s3:\n    endpoint: http://127.0.0.1:%s\n    region: eu-west-3\n" \
		"$(cat port)" >c.yaml &&
	export CDT_CONFIG=$PWD/c.yaml AWS_ACCESS_KEY_ID=AKIDTEST \
		AWS_SECRET_ACCESS_KEY="s3cr3t/+key" AWS_SESSION_TOKEN=tok+en/= &&
	{ W="s3://bkt/te nant/p+q" &&
	  cdt-files -C "$W" ls -r >/dev/null &&
	  jq -cn "{type: \"file\", path: \"d ir/é+&=%.txt\", content: \"x\"}" |
		cdt-files -C "$W" write >/dev/null &&
	  printf "raw" | cdt-files -C "$W" write "a~b(c)*.bin" >/dev/null &&
	  cdt-files -C "$W" read --raw "k=v&x" >/dev/null &&
	  cdt-files -C "$W" mv --overwrite a b >/dev/null &&
	  cdt-files -C "$W" rm "z z" >/dev/null; }
	rc=$?; kill $srv; wait $srv 2>/dev/null; [ $rc = 0 ] &&
	python3 "$S3WORK/sigcheck.py" reqs "s3cr3t/+key" >checked &&
	cat checked && ! grep -q MISMATCH checked &&
	[ "$(wc -l <checked)" -ge 10 ] &&
	grep -q "^MATCH body-ok PUT /bkt/te%20nant/p%2Bq/d%20ir/%C3%A9%2B%26%3D%25.txt$" checked &&
	grep -q "GET /bkt?.*prefix=te%20nant%2Fp%2Bq%2F" checked &&
	grep -q "x-amz-security-token" reqs &&
	grep -q "eu-west-3" reqs && ! grep -q "s3cr3t" reqs
'

t_done
