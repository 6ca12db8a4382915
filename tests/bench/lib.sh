# tests/bench/lib.sh - sourced by the benchmarks.  bench_result appends one
# figure and its baseline, measured in the same run, to $BENCH_RESULTS as
# a JSON line, for tests/bench/results (which writes RESULTS.md); without
# BENCH_RESULTS it does nothing, so a benchmark run alone prints only its
# own table.
#
#   bench_result BENCH FIGURE UNIT N MEDIAN PEAK_RSS_KIB \
#	BASELINE BASELINE_MEDIAN [BASELINE_PEAK_RSS_KIB]
#
# UNIT is us, ms or MB/s; an empty or "-" value is null (not measured).
bench_result() {
	[ -n "${BENCH_RESULTS:-}" ] || return 0
	jq -cn --arg b "$1" --arg f "$2" --arg u "$3" --arg n "$4" \
		--arg m "$5" --arg r "$6" --arg bl "$7" --arg bm "$8" \
		--arg br "${9:-}" '
		def num: if . == "" or . == "-" then null else tonumber end;
		{bench: $b, figure: $f, unit: $u, n: ($n | num),
		 median: ($m | num), peak_rss_kib: ($r | num),
		 baseline: (if $bl == "" then null else $bl end),
		 baseline_median: ($bm | num),
		 baseline_peak_rss_kib: ($br | num)}' >>"$BENCH_RESULTS"
}
