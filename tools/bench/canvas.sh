#!/bin/sh
# tools/bench/canvas.sh - Pixelflut ingest rate of sluice-canvas beside the load
# generator's own ceiling, in one run:
#   canvas px: sluice X Mpx/s | flood ceiling (sink) Y Mpx/s | ratio Z
# X: `sluice flood` (BENCH_CANVAS_CONNS conns, BENCH_CANVAS_SECONDS s) against a
# 1920x1080 sluice-canvas (encoder running at 30 fps, as in production).
# Y: the same flood against a plain TCP sink that discards everything
# (socat -u TCP-LISTEN,fork -> /dev/null), i.e. what the generator and the
# loopback can push at all on this machine. ratio = X/Y (1.0: the canvas keeps up
# with the generator; both share the same 2 cores, so < 1 is expected).
set -u
. "$(dirname "$0")/lib.sh"
bench_init
CONNS=${BENCH_CANVAS_CONNS:-4}
SECS=${BENCH_CANVAS_SECONDS:-5}

SLUICE=$(bench_bin sluice)
CANVAS=$(bench_bin sluice-canvas)
if [ -z "$SLUICE" ] || [ -z "$CANVAS" ]; then
	bench_skip "canvas: sluice or sluice-canvas not built"
	exit 0
fi

# bench_wait_port speaks HTTP; the sink never answers, so wait for a plain connect.
wait_tcp()
{
	$BENCH_PY -c 'import socket, sys, time
end = time.monotonic() + 10
while time.monotonic() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)' "$1"
}

mpx()
{
	sed -n 's/.* Mpx\/s=\([0-9.]*\) .*/\1/p' "$1" | tail -n 1
}

# 1. sluice-canvas
PX=$(bench_free_port)
HP=$(bench_free_port)
bench_spawn canvas "$CANVAS" --listen "127.0.0.1:$PX" --http "127.0.0.1:$HP" \
	--store "$BENCH_TMP/store" --size 1920x1080 --fps 30 --segment 2s
bench_wait_http "http://127.0.0.1:$HP/healthz" 20 || { echo "canvas: did not start"; exit 1; }
timeout 60 "$SLUICE" flood "127.0.0.1:$PX" --conns "$CONNS" --seconds "$SECS" \
	>"$BENCH_TMP/flood-canvas.txt" || { echo "canvas: flood failed"; exit 1; }
cat "$BENCH_TMP/flood-canvas.txt"
curl -s "http://127.0.0.1:$HP/metrics" | grep -E '^sluice_canvas_(pixels_total|frames_total|frames_skipped_total) '
bench_stop "$SPAWN_PID"

# 2. the generator's ceiling: a sink that only reads
if command -v socat >/dev/null 2>&1; then
	SP=$(bench_free_port)
	bench_spawn sink socat -u -b 262144 "TCP-LISTEN:$SP,bind=127.0.0.1,reuseaddr,fork" /dev/null
	wait_tcp "$SP" || { echo "canvas: sink did not start"; exit 1; }
	timeout 60 "$SLUICE" flood "127.0.0.1:$SP" --conns "$CONNS" --seconds "$SECS" \
		--size 1920x1080 >"$BENCH_TMP/flood-sink.txt" || { echo "canvas: flood to sink failed"; exit 1; }
	cat "$BENCH_TMP/flood-sink.txt"
	Y=$(mpx "$BENCH_TMP/flood-sink.txt")
else
	bench_skip "canvas: socat missing (make deps); no sink ceiling"
	Y=""
fi
X=$(mpx "$BENCH_TMP/flood-canvas.txt")
echo "canvas px: sluice ${X:-n/a} Mpx/s | flood ceiling (sink) ${Y:-n/a} Mpx/s | ratio $(bench_ratio "${X:-}" "${Y:-}")"
