#!/bin/sh
# tools/bench/store.sh - the segment store against its anchors.
#
# 1. Put throughput, 1 MiB segments, fsync on: `sluice store bench put` (blob from fd
#    into tmp/, hashed while written, fsync, rename, dir fsync, then the LMDB record
#    commit) over BENCH_STORE_FILES files, against `cp` of the same files into a
#    directory on the same file system followed by one `sync`, and against
#    `dd conv=fsync` of each file (the same per-file durability as a put).
#    Result lines: "store put 1MiB ...: sluice X MB/s | cp+sync Y MB/s | ratio Z".
# 2. Range-query latency: BENCH_STORE_RECORDS records inserted in batches of 10000
#    per transaction, then BENCH_STORE_QUERIES random 60 s range queries; p50/p99.
# Everything under $BENCH_TMP (removed on exit). Bounded: about a minute.
set -eu
# shellcheck source=tools/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init

FILES=${BENCH_STORE_FILES:-200}
RECORDS=${BENCH_STORE_RECORDS:-1000000}
QUERIES=${BENCH_STORE_QUERIES:-1000}
MIB=1048576

sluice=$(bench_bin sluice)
if [ -z "$sluice" ]; then
	bench_skip "store: bin/sluice not built - skipped"
	exit 0
fi

now() { date +%s.%N; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", b / 1e6 / s; else print 0 }'; }

# --- put throughput ---
src="$BENCH_TMP/src"
mkdir -p "$src" "$BENCH_TMP/cp"
i=0
while [ $i -lt "$FILES" ]; do
	head -c $MIB /dev/urandom >"$src/seg$i.ts"
	i=$((i + 1))
done
sync
bytes=$((FILES * MIB))

"$sluice" store init "$BENCH_TMP/store" >/dev/null
out=$("$sluice" store bench put "$BENCH_TMP/store" "$src"/seg*.ts)
secs=$(printf '%s\n' "$out" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')
sluice_mbps=$(mbps "$bytes" "$secs")

sync
t0=$(now)
cp "$src"/seg*.ts "$BENCH_TMP/cp/"
sync
t1=$(now)
cp_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
cp_mbps=$(mbps "$bytes" "$cp_secs")

echo "store put 1MiB ($FILES files, fsync each): sluice $sluice_mbps MB/s |" \
	"cp+sync $cp_mbps MB/s | ratio $(bench_ratio "$sluice_mbps" "$cp_mbps")"

# Second anchor with the same durability per file: dd conv=fsync of each file.
rm -rf "$BENCH_TMP/cp"
mkdir -p "$BENCH_TMP/cp"
sync
t0=$(now)
for f in "$src"/seg*.ts; do
	dd if="$f" of="$BENCH_TMP/cp/${f##*/}" bs=1M conv=fsync status=none
done
t1=$(now)
dd_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
dd_mbps=$(mbps "$bytes" "$dd_secs")
echo "store put 1MiB vs per-file fsync: sluice $sluice_mbps MB/s |" \
	"dd conv=fsync $dd_mbps MB/s | ratio $(bench_ratio "$sluice_mbps" "$dd_mbps")"
"$sluice" store fsck "$BENCH_TMP/store" >/dev/null || echo "store: FAIL fsck after put bench"
rm -rf "$src" "$BENCH_TMP/cp" "$BENCH_TMP/store"

# --- range-query latency ---
"$sluice" store init "$BENCH_TMP/qstore" >/dev/null
qout=$("$sluice" store bench query "$BENCH_TMP/qstore" --records "$RECORDS" --queries "$QUERIES")
p50=$(printf '%s\n' "$qout" | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p')
p99=$(printf '%s\n' "$qout" | sed -n 's/.*p99_us=\([0-9]*\).*/\1/p')
ins=$(printf '%s\n' "$qout" | sed -n 's/.*insert_secs=\([0-9.]*\).*/\1/p')
hits=$(printf '%s\n' "$qout" | sed -n 's/.*avg_hits=\([0-9.]*\).*/\1/p')
echo "store range query ($RECORDS records, $QUERIES random 60s ranges, ~$hits hits each):" \
	"p50 ${p50}us p99 ${p99}us (bulk insert ${ins}s)"
