#!/bin/sh
# A workspace on S3-compatible storage: write a project into a bucket, list
# it, copy it to a local directory, build it there, and copy an edit back;
# only what changed is uploaded.
#
#	examples/s3-workspace.sh s3://BUCKET/PREFIX
#
# cdt-files takes the endpoint, region and addressing from the storage.s3
# section of the configuration (CDT_CONFIG), e.g. for MinIO:
#
#	storage:
#	  s3: {endpoint: 'http://minio.local:9000', region: us-east-1}
#
# and the credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
# AWS_SESSION_TOKEN); without an endpoint it is AWS itself.  Every write is
# one PUT of the whole object with its sha256 signed.
set -eu
[ $# -eq 1 ] || { echo "usage: s3-workspace.sh s3://BUCKET/PREFIX" >&2; exit 64; }
case $1 in s3://?*/?*) ;; *) echo "s3-workspace.sh: want s3://BUCKET/PREFIX, not '$1'" >&2; exit 64 ;; esac
s3=$1
local=$(mktemp -d "${TMPDIR:-/tmp}/cdt-s3ws.XXXXXX")
trap 'rm -rf "$local"' EXIT
say() { printf '\n== %s\n' "$*"; }

say "write a small C project into $s3"
jq -cn '{type: "file", path: "hello.c", content:
	  "#include <stdio.h>\n\nint\nmain(void)\n{\n\tputs(\"hello from S3\");\n\treturn 0;\n}\n"},
	{type: "file", path: "Makefile", content: "hello: hello.c\n\t$(CC) -o hello hello.c\n"},
	{type: "file", path: "docs/README", content: "Built by examples/s3-workspace.sh\n"}' |
	cdt-files -C "$s3" write | cdt render

say "cdt-files -C $s3 ls -r --text"
cdt-files -C "$s3" ls -r --text --no-stdin

say "copy it to a local directory and build it there"
cdt-files -C "$s3" sync --to local "$local" --no-stdin --text
make -s -C "$local" hello
"$local/hello"

say "edit it locally, copy back: only hello.c is uploaded"
sed -i 's/hello from S3/hello again from S3/' "$local/hello.c"
rm "$local/hello"
cdt-files -C "$local" sync --to s3 "$s3" --no-stdin --text

say "read it back from S3"
cdt-files -C "$s3" read hello.c --no-stdin --jq '"\(.path) \(.sha256)"'
(cd "$local" && sha256sum hello.c)
