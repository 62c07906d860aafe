#!/bin/sh
# tools/bench/run.sh - `make bench`: every benchmark beside its anchor, in one run.
#
# Runs tools/bench/<part>.sh for part in store, ingest, origin, edge, canvas (a missing script is
# noted and skipped), prints each one's output as it comes, then a summary table of every
# result line that carries "| ratio X" (ratio > 1: sluice ahead of the anchor).
# Environment: SLUICE_BIN (binaries dir, default bin/), BENCH_DURATION (seconds per wrk run,
# default 5), BENCH_THREADS (2), BENCH_CONNS (64), BENCH_PARTS (default "store ingest origin
# edge canvas"), BENCH_PART_TIMEOUT_S (default 300, per part).
set -u
dir=$(cd "$(dirname "$0")" && pwd)
parts=${BENCH_PARTS:-store ingest origin edge canvas}
part_timeout=${BENCH_PART_TIMEOUT_S:-300}
log=$(mktemp "${TMPDIR:-/tmp}/sluice-bench-run.XXXXXX")
trap 'rm -f "$log" "$log.rc"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$(date +%s)
failed=""
echo "sluice bench: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores," \
	"load $(cut -d' ' -f1-3 /proc/loadavg), binaries ${SLUICE_BIN:-bin/}"
for part in $parts; do
	script="$dir/$part.sh"
	if [ ! -f "$script" ]; then
		echo "== $part: no tools/bench/$part.sh - skipped" | tee -a "$log"
		continue
	fi
	echo "== $part"
	t0=$(date +%s)
	{ timeout --foreground -k 10 "$part_timeout" sh "$script" 2>&1; echo $? >"$log.rc"; } | tee -a "$log"
	rc=$(cat "$log.rc")
	echo "== $part: exit $rc after $(( $(date +%s) - t0 ))s"
	case $rc in
	130 | 143)
		echo "bench: interrupted"
		exit "$rc"
		;;
	esac
	[ "$rc" -eq 0 ] || failed="$failed $part"
done

echo
echo "== summary (ratio = sluice / anchor; for times, anchor / sluice; > 1: sluice ahead)"
printf '%-62s %s\n' "comparison" "ratio"
grep '| ratio ' "$log" | while IFS= read -r l; do
	name=${l%%:*}
	ratio=${l##*| ratio }
	printf '%-62s %s\n' "$name" "$ratio"
done
grep -v '| ratio ' "$log" | grep -E 'not built|skipped|FAIL|failed' | sed 's/^/note: /'
echo "== total $(( $(date +%s) - start ))s"
if [ -n "$failed" ]; then
	echo "bench: failed parts:$failed"
	exit 1
fi
exit 0
