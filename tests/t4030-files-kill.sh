#!/bin/bash
# A write killed with SIGKILL at any moment leaves each file whole: the
# old version or the new one, never a torn mix; and the next run succeeds.
# (On S3 the same holds by construction: stdin is staged whole before the
# one PUT; t4020 kills a write there.)
. "$(dirname "$0")/lib.sh"

for mode in openat2 walk; do
if [ $mode = walk ]; then export CDT_TEST_NO_OPENAT2=1; else unset CDT_TEST_NO_OPENAT2; fi

t_case "[$mode] write PATH killed while stdin streams: the old file stays" '
	mkdir ws && head -c 1000000 /dev/urandom >old && cp old ws/f || exit 1
	mkfifo feed
	cdt-files -C ws write f <feed >/dev/null 2>&1 &
	pid=$!
	python3 -c "import sys, time
sys.stdout.buffer.write(bytes(4000000)); sys.stdout.flush(); time.sleep(5)" >feed &
	feeder=$!
	# Killed once it has taken a good part of the 4 MB.
	for i in $(seq 1 100); do
		[ "$(ls -A ws/.cdt/tmp 2>/dev/null)" ] &&
			[ "$(du -b ws/.cdt/tmp | cut -f1)" -gt 1000000 ] && break
		sleep 0.05
	done
	kill -9 $pid; wait $pid; rc=$?
	kill $feeder 2>/dev/null; wait $feeder 2>/dev/null
	[ $rc = 137 ] && cmp old ws/f &&
	head -c 2000000 /dev/urandom >new &&
	cdt-files -C ws write f <new >out && cmp new ws/f
'

t_case "[$mode] records killed while staging and while committing: each file whole" '
	mkdir ws || exit 1
	head -c 40000 /dev/zero | tr "\0" o >old
	nc=$(head -c 50000 /dev/zero | tr "\0" n)
	for i in $(seq 1 150); do
		cp old ws/f$i
		printf "{\"type\":\"file\",\"path\":\"f%d\",\"content\":\"%s\"}\n" $i "$nc"
	done >in
	o=$(sha256sum <old | cut -c1-64)
	n=$(printf %s "$nc" | sha256sum | cut -c1-64)
	# Every file is the old or the new version, whole.
	whole() {
		sha256sum ws/f* | cut -c1-64 | sort -u | grep -vx "$o" |
			grep -vx "$n" >torn
		[ ! -s torn ] || { echo "torn files ($1)"; return 1; }
	}
	cdt-files -C ws write <in >/dev/null 2>&1 &
	pid=$!
	sleep 0.05; kill -9 $pid; wait $pid
	whole staging && ! grep -lq nnnn ws/f* || exit 1
	cdt-files -C ws write <in >/dev/null 2>&1 &
	pid=$!
	# Killed as soon as the first file is in place: mid-commit.
	until grep -lq nnnn ws/f* 2>/dev/null; do
		kill -0 $pid 2>/dev/null || break
	done
	kill -9 $pid 2>/dev/null; wait $pid
	whole committing && grep -lq nnnn ws/f* || exit 1
	cdt-files -C ws write <in >out && t_lines 150 out &&
	sha256sum ws/f* | cut -c1-64 | sort -u >shas && echo "$n" >want &&
	t_cmp want shas
'

done

t_done
