#!/bin/sh
# make run — the whole of sluice on one machine:
#   origin on :8080, two edges on :8081 and :8082 registered with it, an
#   ingest of a lavfi test source in realtime (stream "demo"), and the canvas
#   when it is built. Data lives under var/. Ctrl-C stops everything.
# Ports can be moved with ORIGIN_PORT, EDGE1_PORT, EDGE2_PORT, CANVAS_PORT,
# CANVAS_HTTP_PORT; DEMO_SIZE (1280x720) and CANVAS_SIZE (1280x720) set the
# picture sizes; SLUICE_BIN and SLUICE_VAR the binaries and data directories.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BIN=${SLUICE_BIN:-$top/bin}
VAR=${SLUICE_VAR:-$top/var}
OP=${ORIGIN_PORT:-8080}
E1=${EDGE1_PORT:-8081}
E2=${EDGE2_PORT:-8082}
CP=${CANVAS_PORT:-1234}
CH=${CANVAS_HTTP_PORT:-8083}
DEMO_SIZE=${DEMO_SIZE:-1280x720}
CANVAS_SIZE=${CANVAS_SIZE:-1280x720}
mkdir -p "$VAR/log"
pids=""
stop() {
	trap - INT TERM EXIT
	echo
	echo "sluice: stopping"
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	exit 0
}
trap stop INT TERM EXIT
start() { # name, then command
	name=$1; shift
	"$@" >>"$VAR/log/$name.log" 2>&1 &
	pids="$pids $!"
	echo "sluice: started $name (pid $!, log var/log/$name.log)"
}
wait_port() {
	i=0
	while ! curl -fsS -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt 100 ]; then echo "sluice: :$1 did not come up; see var/log/" >&2; exit 1; fi
		sleep 0.1
	done
}
start origin "$BIN/sluice-origin" --listen "127.0.0.1:$OP" --store "$VAR/origin"
wait_port "$OP"
for e in "edge1:$E1" "edge2:$E2"; do
	id=${e%%:*}; port=${e#*:}
	start "$id" "$BIN/sluice-edge" --listen "127.0.0.1:$port" \
		--upstream "http://127.0.0.1:$OP" --origin "http://127.0.0.1:$OP" \
		--advertise "http://127.0.0.1:$port" --id "$id" --capacity 100 \
		--cache-dir "$VAR/$id" --threads 1
	wait_port "$port"
done
start ingest "$BIN/sluice-ingest" --input "lavfi:testsrc2=size=$DEMO_SIZE:rate=30" \
	--stream demo --store "$VAR/origin" --segment 2s --realtime
if [ -x "$BIN/sluice-canvas" ]; then
	start canvas "$BIN/sluice-canvas" --listen "127.0.0.1:$CP" --http "127.0.0.1:$CH" \
		--store "$VAR/origin" --size "$CANVAS_SIZE" --fps 25
fi
echo
echo "sluice is running. Open the player:  http://127.0.0.1:$OP/"
echo "  live playlist:  http://127.0.0.1:$OP/hls/demo/src/live.m3u8"
echo "  edges:          http://127.0.0.1:$OP/api/v1/edges"
[ -x "$BIN/sluice-canvas" ] &&
	echo "  canvas:         paint on 127.0.0.1:$CP, http://127.0.0.1:$CH/snapshot.png"
echo "Press Ctrl-C to stop."
while :; do
	for p in $pids; do
		if ! kill -0 "$p" 2>/dev/null; then
			echo "sluice: process $p exited; see var/log/" >&2
			pids=$(echo "$pids" | sed "s/ $p\b//")
		fi
	done
	sleep 2
done
