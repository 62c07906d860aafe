#!/bin/sh
# tools/bench/ingest.sh - sluice-ingest remux CPU cost against ffmpeg's HLS muxer.
#
# Input: a 5-minute 1080p30 H.264 (ultrafast, ~1.5 Mbit/s, 2 s GOP) + AAC MP4, made once
# into build/bench/ingest-1080p-5min.mp4 and reused. Both sides read the same file as fast
# as they can and write 2 s MPEG-TS segments:
#   sluice-ingest --input FILE --stream bench --store TMP/store   (hash, fsync, LMDB index)
#   ffmpeg -i FILE -c copy -f hls -hls_time 2 TMP/hls/out.m3u8   (plain files)
# CPU seconds = user + sys from wait4() rusage (of timeout(1) and, through it, the
# command), best of RUNS runs each (the
# store is initialised before each sluice run; ffmpeg gets an empty directory).
# Result line (run.sh format):
#   ingest remux cpu 5min 1080p: sluice X s | ffmpeg hls Y s | ratio Y/X
# (ratio > 1: sluice cheaper), plus "sluice/ffmpeg = X/Y (goal <= 1.0)".
set -eu
# shellcheck source=tools/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init

INPUT_SECONDS=300
INPUT_DIR="$BENCH_TOP/build/bench"
INPUT="$INPUT_DIR/ingest-1080p-5min.mp4"
GEN_TIMEOUT_S=600
RUN_TIMEOUT_S=240
RUNS=3 # best (lowest CPU) of RUNS for each side

INGEST=$(bench_bin sluice-ingest)
CLI=$(bench_bin sluice)
if [ -z "$INGEST" ]; then
	bench_skip "ingest: sluice-ingest not built - skipped"
	exit 0
fi
command -v ffmpeg >/dev/null 2>&1 || { echo "bench: ffmpeg missing (make deps)"; exit 1; }

if [ ! -s "$INPUT" ]; then
	mkdir -p "$INPUT_DIR"
	echo "ingest: generating $INPUT (once)"
	timeout "$GEN_TIMEOUT_S" ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=1920x1080:rate=30" \
		-f lavfi -i "sine=frequency=440:sample_rate=48000" \
		-t "$INPUT_SECONDS" -c:v libx264 -preset ultrafast -b:v 1500k -maxrate 2M \
		-bufsize 4M -g 60 -keyint_min 60 -sc_threshold 0 -pix_fmt yuv420p \
		-c:a aac -b:a 96k "$INPUT.tmp.mp4"
	mv "$INPUT.tmp.mp4" "$INPUT"
fi

# cpu_of LABEL CMD... -> prints "user+sys" seconds of CMD (ms precision, from wait4()
# rusage; /usr/bin/time only prints centiseconds), fails if CMD fails
cpu_of()
{
	_lab=$1
	shift
	if ! "$BENCH_PY" -c '
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
print("%.6f %.6f" % (ru.ru_utime, ru.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status) != 0)
' "$BENCH_TMP/$_lab.log" timeout "$RUN_TIMEOUT_S" "$@" >"$BENCH_TMP/$_lab.time"; then
		echo "ingest: $_lab failed:" >&2
		tail -n 5 "$BENCH_TMP/$_lab.log" >&2
		return 1
	fi
	tail -n 1 "$BENCH_TMP/$_lab.time" | awk '{ printf "%.3f", $1 + $2 }'
}

# min2 A B -> the smaller of two decimals
min2()
{
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }'
}

# warm the page cache so both read from memory
cat "$INPUT" >/dev/null
S=""
F=""
i=0
while [ $i -lt "$RUNS" ]; do
	# a fresh, initialised store each run (making the 256 fan-out directories is
	# store init, not ingest); a fresh directory for ffmpeg likewise
	rm -rf "$BENCH_TMP/store" "$BENCH_TMP/hls"
	mkdir -p "$BENCH_TMP/hls"
	if [ -n "$CLI" ]; then
		"$CLI" store init "$BENCH_TMP/store" >/dev/null
	fi
	s=$(cpu_of sluice "$INGEST" --input "$INPUT" --stream bench --store "$BENCH_TMP/store")
	f=$(cpu_of ffmpeg ffmpeg -hide_banner -loglevel error -y -i "$INPUT" -c copy -f hls \
		-hls_time 2 -hls_list_size 0 "$BENCH_TMP/hls/out.m3u8")
	S=$(min2 "$S" "$s")
	F=$(min2 "$F" "$f")
	i=$((i + 1))
done
NSEG=$(grep -c 'segment stored' "$BENCH_TMP/sluice.log" || true)
echo "ingest: sluice stored $NSEG segments; ffmpeg wrote $(ls "$BENCH_TMP/hls" | grep -c '\.ts$')"
R=$(bench_ratio "$F" "$S")
echo "ingest remux cpu 5min 1080p: sluice ${S} s | ffmpeg hls ${F} s | ratio $R"
echo "ingest: sluice/ffmpeg = $(bench_ratio "$S" "$F") (goal <= 1.0)"
