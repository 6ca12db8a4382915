#!/bin/bash
# Session workspaces on S3 (storage.backend s3), against s3rver and
# checked with awscli: create pulls the project into a local working copy,
# the sandbox and cdt-files work on that copy, and checkpoint and
# terminate push it back, so nothing written inside is lost.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/s3rver.sh"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
aws() {
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 \
		/usr/bin/aws --endpoint-url "$S3E" "$@"
}
export -f aws
N=0

# The org gets a fresh name per case (the bucket is coditect-ORG), the
# config says s3; U is the user's id and P the project's S3 prefix.
s3_setup() {
	N=$((N + 1)) && ORG=o$N$RANDOM && export ORG &&
	printf "storage:\n  backend: s3\n  s3:\n    endpoint: %s\n" "$S3E" \
		>cfg.yaml && export CDT_CONFIG=$PWD/cfg.yaml &&
	cdt-auth init --org "$ORG" --team web --email "a@$ORG.test" \
		>/dev/null 2>&1 &&
	U=$(cdt-auth whoami --jq .user.id) &&
	aws s3 mb "s3://coditect-$ORG" >/dev/null &&
	P=teams/web/users/$U/projects/demo
}

t_case 'create pulls the project from coditect-ORG into the working copy' '
	s3_setup &&
	printf "int main(void) { return 0; }\n" >hello.c &&
	aws s3 cp hello.c "s3://coditect-$ORG/$P/src/hello.c" >/dev/null &&
	cdt-session create --project demo --owner-pid 0 --sandbox none \
		>s.json &&
	jq -e ".sandbox.storage.backend == \"s3\" and
		.sandbox.storage.location == \"s3://coditect-$ORG/$P\" and
		.sandbox.storage.pulled == true" s.json &&
	W=$(jq -r .workspace s.json) && t_cmp hello.c "$W/src/hello.c" &&
	cdt-files read src/hello.c <s.json >r &&
	jq -e "select(.type == \"file\") | .content ==
		\"int main(void) { return 0; }\n\"" r
'

t_case 'checkpoint pushes the working copy back (aws reads it)' '
	s3_setup &&
	cdt-session create --project demo --owner-pid 0 --sandbox none \
		>s.json &&
	{ cat s.json; echo "{\"type\":\"file\",\"path\":\"notes.md\",\"content\":\"# n\\n\"}"; } |
		cdt-files write >/dev/null &&
	! aws s3 ls "s3://coditect-$ORG/$P/notes.md" >/dev/null 2>&1 &&
	cdt-checkpoint create -m one <s.json >c &&
	aws s3 cp "s3://coditect-$ORG/$P/notes.md" - >got &&
	printf "# n\n" >want && t_cmp want got &&
	aws s3 ls --recursive "s3://coditect-$ORG/$P/" >keys &&
	! grep -q "\.git/\|\.cdt/" keys
'

t_case 'terminate pushes what the sandbox wrote since' '
	s3_setup &&
	S=$(cdt-session create --project demo --owner-pid 0 --sandbox none \
		--jq .id) &&
	cdt-session exec "$S" -- sh -c "mkdir -p out && echo built >out/x" \
		</dev/null >/dev/null &&
	cdt-session terminate "$S" </dev/null >/dev/null &&
	aws s3 cp "s3://coditect-$ORG/$P/out/x" - >got &&
	echo built >want && t_cmp want got &&
	cdt-session get "$S" --jq .status >st && echo terminated >want &&
	t_cmp want st
'

t_case 'a working copy already there is never overwritten by an older S3' '
	s3_setup &&
	S=$(cdt-session create --project demo --owner-pid 0 --sandbox none \
		--jq .id) && W=$(cdt-session get "$S" --jq .workspace) &&
	echo local >"$W/a.txt" &&
	echo remote >a.txt && aws s3 cp a.txt "s3://coditect-$ORG/$P/a.txt" \
		>/dev/null &&
	cdt-session create --project demo --owner-pid 0 --sandbox none >s2 &&
	jq -e ".sandbox.storage.pulled == false and .workspace == \"$W\"" s2 &&
	t_grep "^local$" "$W/a.txt"
'

t_case 'S3 unreachable at terminate: 75, the session stays, nothing lost' '
	s3_setup &&
	S=$(cdt-session create --project demo --owner-pid 0 --sandbox none \
		--jq .id) && W=$(cdt-session get "$S" --jq .workspace) &&
	echo keep >"$W/k.txt" &&
	printf "storage:\n  backend: s3\n  s3:\n    endpoint: http://127.0.0.1:9\n" \
		>dead.yaml &&
	CDT_CONFIG=$PWD/dead.yaml t_fails 75 cdt-session terminate "$S" \
		</dev/null >/dev/null 2>err && t_lines 1 err &&
	t_grep "127.0.0.1:9" err &&
	cdt-session get "$S" --jq .status >st && echo running >want &&
	t_cmp want st && t_grep "^keep$" "$W/k.txt" &&
	cdt-session terminate "$S" </dev/null >/dev/null &&
	aws s3 cp "s3://coditect-$ORG/$P/k.txt" - >got && t_cmp "$W/k.txt" got
'

t_case 'storage.s3.bucket and prefix name the location instead' '
	s3_setup &&
	printf "storage:\n  backend: s3\n  s3:\n    endpoint: %s\n    bucket: bkt\n    prefix: cdt\n" \
		"$S3E" >cfg.yaml &&
	cdt-session create --project demo --owner-pid 0 --sandbox none \
		--jq .sandbox.storage.location >loc &&
	echo "s3://bkt/cdt/$P" >want && t_cmp want loc
'

t_done
