#!/bin/bash
# Hostile access tokens at the tool level: each refused with 77 and the
# class of the failure in the message (malformed, alg, signature, expired,
# claim, revoked), never with a hint that helps a forger.  The byte-level
# cases A1-A26 are tests/unit/t-jwt.c; these run the whole caller check.
# A27 (a valid token on another org's object) is the authorisation
# layer's: 66 of class not_found, the very answer a missing object gets,
# and no token error.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/fixtures/fakeprov.sh"

acme() {
	cdt-auth init --org acme --team web --email admin@acme.test \
		>/dev/null 2>&1
}

# refused CLASS TOKEN-FILE: 77 from whoami, "(CLASS)" in the message.
refused() {
	t_fails 77 cdt-auth whoami --token-file "$2" 2>err >/dev/null &&
	t_grep "access token refused ($1)" err
}

# other CMD...: in another store with the same names, the home ./other
# and its own SQLite store, in the PostgreSQL pass too (env: the binary,
# not the pass's callercheck, which goes to the PostgreSQL database).
other() {
	CDT_HOME=$PWD/other env -u CDT_STORE_URL "$@"
}

b64url() {
	base64 -w0 | tr "+/" "-_" | tr -d "="
}

b64d() {
	s=$(tr "_-" "/+")
	while [ $((${#s} % 4)) != 0 ]; do s="$s="; done
	printf %s "$s" | base64 -d
}

t_case 'a minted token with the store key is accepted (the control)' '
	acme && callercheck mint admin@acme.test acme >t &&
	cdt-auth whoami --token-file t --jq .user.email >e &&
	echo admin@acme.test >w && t_cmp w e
'

t_case 'malformed: not a JWT, a bearer prefix, JWE, too large' '
	acme &&
	echo thisisnotreallyajwt >t && refused malformed t &&
	echo "Bearer $(callercheck mint admin@acme.test acme)" >t &&
	refused malformed t &&
	echo "a.b.c.d.e" >t && refused malformed t &&
	{ printf "eyJhbGciOiJIUzI1NiJ9."; head -c 9000 /dev/zero | tr "\0" A;
	  echo ".AAAA"; } >t && refused malformed t
'

t_case 'alg: none, NoNe, HS512, RS256 refused before the signature' '
	acme && callercheck mint admin@acme.test acme >good &&
	p=$(cut -d. -f2 good) &&
	for a in none NoNe HS512 RS256 hs256; do
		h=$(printf "{\"alg\":\"%s\",\"typ\":\"at+jwt\"}" $a | b64url) &&
		echo "$h.$p." >t && refused alg t || exit 1
		echo "$h.$p.$(cut -d. -f3 good)" >t && refused alg t || exit 1
	done
'

t_case 'signature: a flipped character, a forged key, an unknown kid' '
	acme && callercheck mint admin@acme.test acme >good &&
	s=$(cut -d. -f3 good) && c=$(printf %s "$s" | cut -c10) &&
	{ [ "$c" = A ] && n=B || n=A; } &&
	echo "$(cut -d. -f1-2 good).$(printf %s "$s" | sed "s/^\(.\{9\}\)./\1$n/")" \
		>t && refused signature t &&
	callercheck mint admin@acme.test acme \
		"{\"__header\":{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"../../etc/passwd\"}}" \
		>t && refused signature t &&
	mkdir other && other cdt-auth init --org acme --team web \
		--email admin@acme.test >/dev/null 2>&1 &&
	other callercheck mint admin@acme.test acme \
		"{\"__header\":{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}}" >t &&
	refused signature t
'

t_case 'a forged token that is also expired says signature, not expired' '
	acme && mkdir other &&
	other cdt-auth init --org acme --team web \
		--email admin@acme.test >/dev/null 2>&1 &&
	other callercheck mint admin@acme.test acme \
		"{\"__header\":{\"alg\":\"HS256\",\"typ\":\"at+jwt\"},\"exp\":\"-500\",\"iat\":\"-1000\"}" \
		>t && refused signature t
'

t_case 'expired: exp past the leeway, nbf ahead, iat in the future or too old' '
	acme &&
	callercheck mint admin@acme.test acme "{\"exp\":\"-61\"}" >t &&
	refused expired t &&
	callercheck mint admin@acme.test acme "{\"exp\":\"-30\"}" >t &&
	cdt-auth whoami --token-file t >/dev/null &&
	callercheck mint admin@acme.test acme "{\"nbf\":\"+120\"}" >t &&
	refused expired t &&
	callercheck mint admin@acme.test acme "{\"iat\":\"+120\"}" >t &&
	refused expired t &&
	callercheck mint admin@acme.test acme \
		"{\"iat\":\"-3600\",\"exp\":\"+3600\"}" >t && refused expired t
'

t_case 'claim: audience, issuer, typ, missing claims, unknown users' '
	acme &&
	callercheck mint admin@acme.test acme "{\"aud\":\"other\"}" >t &&
	refused claim t &&
	callercheck mint admin@acme.test acme "{\"aud\":[\"x\",\"cdt\"]}" >t &&
	cdt-auth whoami --token-file t >/dev/null &&
	callercheck mint admin@acme.test acme "{\"iss\":\"evil\"}" >t &&
	refused claim t &&
	kid=$(callercheck mint admin@acme.test acme | cut -d. -f1 | b64d |
		jq -r .kid) && [ ${#kid} = 16 ] &&
	callercheck mint admin@acme.test acme \
		"{\"__header\":{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"$kid\"}}" \
		>t &&
	refused claim t &&
	callercheck mint admin@acme.test acme "{\"fam\":null}" >t &&
	t_fails 77 cdt-auth whoami --token-file t 2>/dev/null &&
	callercheck mint admin@acme.test acme \
		"{\"sub\":\"00000000-0000-4000-8000-000000000000\"}" >t &&
	refused claim t && t_grep "no such user" err &&
	callercheck mint admin@acme.test acme "{\"exp\":\"1700000000\"}" >t &&
	refused malformed t
'

t_case 'revoked: a token of a login that was logged out' '
	acme && cdt-auth token >t && cdt-auth logout && refused revoked t
'

t_case 'a token from another store with the same names is refused' '
	acme && mkdir other &&
	other cdt-auth init --org acme --team web \
		--email admin@acme.test >/dev/null 2>&1 &&
	other cdt-auth token >t &&
	t_fails 77 cdt-auth whoami --token-file t 2>err &&
	t_grep "(signature)" err
'

# same66 OUT1 OUT2 ID1 ID2: two 66 error records, of class not_found, that
# differ only in the id they name.
same66() {
	jq -e ".type == \"error\" and .code == 66 and
		.class == \"not_found\"" "$1" &&
	sed "s/$3/ID/g" "$1" >n1 && sed "s/$4/ID/g" "$2" >n2 && t_cmp n1 n2
}
export -f same66

t_case 'A27: a valid token of org beta on acme'"'"'s objects: 66 not_found' '
	fp_start fp && trap fp_stop EXIT &&
	export ANTHROPIC_BASE_URL=$FP_URL ANTHROPIC_API_KEY=k-ant &&
	acme && cdt-auth token >a.tok &&
	S=$(cdt-session create --owner-pid 0 --jq .id) &&
	C=$(cdt-chat --provider claude --session $S hi --jq .conversation_id |
		head -1) &&
	cdt-auth init --org beta --team web --email boss@beta.test \
		>/dev/null 2>&1 && cdt-auth token >b.tok &&
	cdt-auth whoami --token-file b.tok --jq .tenant.org >o &&
	echo beta >w && t_cmp w o &&
	N=00000000-0000-4000-8000-000000000000 &&
	t_fails 66 cdt-session --token-file b.tok get $S >o1 2>e1 &&
	t_fails 66 cdt-session --token-file b.tok get $N >o2 2>e2 &&
	same66 o1 o2 $S $N && ! grep -q "token" e1 &&
	t_fails 66 cdt-chat --token-file b.tok log --conversation $C >o1 2>e1 &&
	t_fails 66 cdt-chat --token-file b.tok log --conversation $N >o2 2>e2 &&
	same66 o1 o2 $C $N && t_grep "no such conversation" e1 &&
	! grep -q "token" e1 &&
	t_fails 66 cdt-chat --token-file b.tok log --session $S >o1 2>e1 &&
	t_fails 66 cdt-chat --token-file b.tok log --session $N >o2 2>e2 &&
	same66 o1 o2 $S $N && t_grep "no such session" e1 &&
	t_fails 66 cdt-chat --token-file b.tok --provider claude --session $S \
		again >o1 2>e1 &&
	t_fails 66 cdt-chat --token-file b.tok --provider claude --session $N \
		again >o2 2>e2 &&
	same66 o1 o2 $S $N && test "$(fp_hits)" -eq 1 &&
	cdt-session --token-file a.tok get $S --jq .status >st &&
	echo running >w && t_cmp w st
'

t_done
