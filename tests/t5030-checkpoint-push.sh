#!/bin/bash
# cdt-checkpoint push: to a local bare repository (path and file://), then
# cloned back; over ssh to an sshd started here on 127.0.0.1 (a random
# port, its own host key, an ed25519 client key); rejected,
# unauthenticated and unreachable remotes.  https is not tested here.
. "$(dirname "$0")/lib.sh"

export GIT_AUTHOR_NAME='Cee Dee' GIT_AUTHOR_EMAIL=cd@example.com
export GIT_COMMITTER_NAME='Cee Dee' GIT_COMMITTER_EMAIL=cd@example.com

mkws() {
	mkdir -p ws/src && printf 'hello\n' >ws/a.txt &&
	printf 'x\n' >ws/src/b.c && ln -s a.txt ws/link &&
	head -c 3000 /dev/urandom >ws/bin.dat
}

t_case 'push to a local bare repository; a clone has the same files' '
	mkws && git init -q --bare -b master bare.git &&
	cdt-checkpoint -C ws create -m one >c1 &&
	cdt-checkpoint -C ws push --remote bare.git <c1 >out &&
	t_lines 1 out &&
	jq -e ".sha == \"$(jq -r .sha c1)\" and .pushed.remote == \"bare.git\"
		and .pushed.ref == \"refs/heads/master\"" out &&
	[ "$(git --git-dir=bare.git rev-parse master)" = "$(jq -r .sha c1)" ] &&
	git clone -q bare.git clone && diff -r -x .git -x .cdt ws clone &&
	git --git-dir=bare.git fsck --strict
'

t_case 'push a --branch checkpoint to a file:// URL, --to another name' '
	mkws && git init -q --bare -b master bare.git &&
	cdt-checkpoint -C ws create -m base >/dev/null &&
	echo ci >>ws/a.txt &&
	cdt-checkpoint -C ws create --branch ci/snap -m snap |
		cdt-checkpoint -C ws push --remote "file://$PWD/bare.git" \
		--to snapshots >out &&
	jq -e ".branch == \"ci/snap\" and
		.pushed.ref == \"refs/heads/snapshots\"" out &&
	[ "$(git --git-dir=bare.git log --format=%s snapshots | tr "\n" ,)" = \
		"snap,base," ] &&
	! git --git-dir=bare.git rev-parse -q --verify master
'

t_case 'push with no records: the branch; origin by default, tracked' '
	mkws && git init -q --bare -b master bare.git &&
	git -C ws init -q -b master && git -C ws remote add origin "$PWD/bare.git" &&
	cdt-checkpoint -C ws create >/dev/null &&
	cdt-checkpoint -C ws push --no-stdin >out &&
	jq -e ".pushed.remote == \"origin\"" out &&
	[ "$(git -C ws rev-parse origin/master)" = "$(git -C ws rev-parse HEAD)" ] &&
	cdt-checkpoint -C ws push --branch nothing --no-stdin >o 2>err;
	[ $? = 66 ] && t_grep "no checkpoint yet" err
'

t_case 'push honours url.<base>.insteadOf and pushInsteadOf' '
	mkws && git init -q --bare -b master bare.git &&
	git init -q --bare -b master other.git &&
	git -C ws init -q -b master &&
	git -C ws config url."$PWD/".insteadOf "short:" &&
	cdt-checkpoint -C ws create >c &&
	cdt-checkpoint -C ws push --remote short:bare.git <c >out &&
	jq -e ".pushed.remote == \"short:bare.git\"" out &&
	[ "$(git --git-dir=bare.git rev-parse master)" = "$(jq -r .sha c)" ] &&
	git -C ws config url."$PWD/other.git".pushInsteadOf "$PWD/bare.git" &&
	git -C ws remote add up "$PWD/bare.git" &&
	echo 2 >>ws/a.txt && cdt-checkpoint -C ws create >c2 &&
	cdt-checkpoint -C ws push --remote up <c2 >/dev/null &&
	[ "$(git --git-dir=other.git rev-parse master)" = "$(jq -r .sha c2)" ] &&
	[ "$(git -C ws rev-parse up/master)" = "$(jq -r .sha c2)" ]
'

t_case 'a non-fast-forward push is 1; the records go on unchanged' '
	mkws && git init -q --bare -b master bare.git &&
	git clone -q bare.git other && echo o >other/o &&
	git -C other add o && git -C other commit -q -m other &&
	git -C other push -q origin master &&
	cdt-checkpoint -C ws create >c &&
	t_fails 1 cdt-checkpoint -C ws push --remote bare.git <c >out 2>err &&
	t_grep "rejected" err && head -n 1 out >fw && t_cmp c fw &&
	tail -n 1 out | jq -e ".type == \"error\" and .code == 1" &&
	[ "$(git --git-dir=bare.git log --format=%s master)" = other ]
'

t_case 'unreachable remote 75, no such remote 64, no such path 66' '
	mkws && cdt-checkpoint -C ws create >/dev/null &&
	t_fails 75 cdt-checkpoint -C ws push --no-stdin \
		--remote ssh://git@127.0.0.1:1/x.git >out 2>err &&
	t_grep "cannot reach" err &&
	tail -n 1 out | jq -e ".code == 75 and .class == \"connect\"" &&
	t_fails 64 cdt-checkpoint -C ws push --no-stdin 2>err &&
	t_grep "no remote .origin." err &&
	t_fails 66 cdt-checkpoint -C ws push --no-stdin --remote ./nope.git \
		2>err && t_fails 64 cdt-checkpoint -C ws push --no-stdin \
		--remote bare.git --to "a..b" 2>err
'

t_case 'unchanged records are passed on, not pushed; foreign shas refused' '
	mkws && git init -q --bare -b master bare.git &&
	cdt-checkpoint -C ws create >/dev/null &&
	cdt-checkpoint -C ws create >same && jq -e .unchanged same &&
	cdt-checkpoint -C ws push --remote bare.git <same >out &&
	t_cmp same out && ! git --git-dir=bare.git rev-parse -q --verify master &&
	jq -c ".sha = \"0123456789012345678901234567890123456789\" |
		.unchanged = false" same >foreign &&
	t_fails 66 cdt-checkpoint -C ws push --remote bare.git <foreign \
		>out 2>err && t_grep "no checkpoint" err &&
	echo "{\"type\":\"checkpoint\",\"sha\":null}" |
		t_fails 65 cdt-checkpoint -C ws push --remote bare.git >out 2>err
'

# The sshd of the ssh cases, on 127.0.0.1 at a free port, as this user.
start_sshd() {
	mkdir -p ssh "$HOME/.ssh" && chmod 700 "$HOME/.ssh" &&
	ssh-keygen -q -t ed25519 -N "" -f ssh/host_key &&
	ssh-keygen -q -t ed25519 -N "" -C client -f "$HOME/.ssh/id_ed25519" &&
	cp "$HOME/.ssh/id_ed25519.pub" ssh/authorized_keys || return 1
	[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
	for try in 1 2 3 4 5; do
		port=$(python3 -c "import socket; s = socket.socket(); \
s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])")
		cat >ssh/sshd_config <<-EOF
		Port $port
		ListenAddress 127.0.0.1
		HostKey $PWD/ssh/host_key
		PidFile $PWD/ssh/sshd.pid
		AuthorizedKeysFile $PWD/ssh/authorized_keys
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		PermitRootLogin prohibit-password
		EOF
		/usr/sbin/sshd -D -e -f "$PWD/ssh/sshd_config" 2>ssh/log &
		sshd_pid=$!
		for i in $(seq 1 100); do
			grep -q "Server listening" ssh/log && break
			kill -0 $sshd_pid 2>/dev/null || break
			sleep 0.05
		done
		if grep -q "Server listening" ssh/log; then
			echo "[127.0.0.1]:$port $(cat ssh/host_key.pub)" \
				>"$HOME/.ssh/known_hosts"
			url="ssh://$(id -un)@127.0.0.1:$port$PWD/bare.git"
			return 0
		fi
		wait $sshd_pid 2>/dev/null
	done
	cat ssh/log >&2
	return 1
}
export -f start_sshd

t_case 'ssh: push with an ed25519 key to an sshd on 127.0.0.1' '
	trap "[ -n \"\${sshd_pid:-}\" ] && kill \$sshd_pid 2>/dev/null; wait" EXIT
	command -v /usr/sbin/sshd >/dev/null &&
	mkws && git init -q --bare -b master bare.git && start_sshd &&
	cdt-checkpoint -C ws create -m "over ssh" >c &&
	cdt-checkpoint -C ws push --remote "$url" <c >out 2>err &&
	jq -e ".pushed.remote == \"$url\"" out &&
	[ "$(git --git-dir=bare.git rev-parse master)" = "$(jq -r .sha c)" ] &&
	git clone -q bare.git clone && diff -r -x .git -x .cdt ws clone &&
	echo more >>ws/a.txt && cdt-checkpoint -C ws create >c2 &&
	cdt-checkpoint -C ws push --remote "$url" <c2 >/dev/null &&
	[ "$(git --git-dir=bare.git rev-list --count master)" = 2 ]
'

t_case 'ssh: an unknown host key, a refused key and an RSA key are 77' '
	trap "[ -n \"\${sshd_pid:-}\" ] && kill \$sshd_pid 2>/dev/null; wait" EXIT
	mkws && git init -q --bare -b master bare.git && start_sshd &&
	cdt-checkpoint -C ws create >c &&
	mv "$HOME/.ssh/known_hosts" kh &&
	t_fails 77 cdt-checkpoint -C ws push --remote "$url" <c >out 2>err &&
	t_grep "known_hosts" err && mv kh "$HOME/.ssh/known_hosts" &&
	ssh-keygen -q -t ed25519 -N "" -f other &&
	cp other.pub ssh/authorized_keys &&
	t_fails 77 cdt-checkpoint -C ws push --remote "$url" <c >out 2>err &&
	t_grep "authentication failed" err &&
	rm "$HOME/.ssh/id_ed25519"* &&
	ssh-keygen -q -t rsa -b 2048 -N "" -f "$HOME/.ssh/id_rsa" &&
	cp "$HOME/.ssh/id_rsa.pub" ssh/authorized_keys &&
	t_fails 77 cdt-checkpoint -C ws push --remote "$url" <c >out 2>err &&
	! git --git-dir=bare.git rev-parse -q --verify master
'

t_done
