#!/bin/sh
# shellcheck disable=SC2154 # BEST_* variables are set through eval in lib.sh
# tools/bench/origin.sh - sluice-origin live playlist against its anchor, and steering cost.
#
# 1. Puts 20 segments of stream "bench" into a fresh store with bin/sluice store put, starts
#    bin/sluice-origin on it, fetches /hls/bench/src/live.m3u8 once and gives nginx a static
#    copy of that exact text at the same path; wrk both (best of BENCH_ROUNDS interleaved
#    rounds of BENCH_DURATION, default 2 x 3 s); ratio = origin req/s / nginx req/s
#    (goal >= 1.0).
# 2. Starts a second origin on the same store, registers 3 edges there (POST /api/v1/edges)
#    whose URL is the nginx server (it answers /healthz from a file), waits until they are
#    healthy, puts 6 more segments (steering picks edges for new segments), checks that its
#    playlist names the edges, and runs the same wrk against both origins in interleaved
#    rounds; ratio = with edges / without (goal ~1.0: steering costs nothing per request).
# Without the binaries only the nginx anchor runs, on a synthetic playlist of the same shape.
set -eu
BENCH_DURATION=${BENCH_DURATION:-3}
# shellcheck source=tools/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init

SEGMENTS=20
MORE_SEGMENTS=6
EDGES=3
SEG_BYTES=18800
T=$BENCH_TMP
WWW=$T/www
PL_PATH=/hls/bench/src/live.m3u8
mkdir -p "$WWW/hls/bench/src"
echo ok >"$WWW/healthz"

ORIGIN=$(bench_bin sluice-origin)
CLI=$(bench_bin sluice)

SPORT=$(bench_free_port)
cat >"$T/static.conf" <<EOF
sendfile on;
tcp_nopush on;
tcp_nodelay on;
keepalive_requests 1000000;
open_file_cache max=1000 inactive=60s;
types { application/vnd.apple.mpegurl m3u8; }
default_type text/plain;
access_log off;
server {
	listen 127.0.0.1:$SPORT backlog=4096;
	root $WWW;
	add_header Access-Control-Allow-Origin *;
}
EOF

# put_segments N FIRST_START -> puts N segments of 2 s from FIRST_START (unix seconds)
put_segments()
{
	k=0
	st=$2
	while [ $k -lt "$1" ]; do
		head -c $SEG_BYTES /dev/urandom >"$T/seg.ts"
		"$CLI" store put "$STORE" --stream bench --start "$st" --duration 2s "$T/seg.ts" \
			>>"$T/store-put.log" 2>&1 || return 1
		k=$((k + 1))
		st=$((st + 2))
	done
	NEXT_START=$st
}

OPORT=""
if [ -z "$ORIGIN" ] || [ -z "$CLI" ]; then
	echo "origin: sluice-origin or sluice CLI not built - origin side skipped"
else
	STORE=$T/store
	"$CLI" store init "$STORE" >"$T/store-init.log" 2>&1 || true
	if put_segments $SEGMENTS $(( $(date +%s) - SEGMENTS * 2 - 10 )); then
		OPORT=$(bench_free_port)
		bench_spawn origin "$ORIGIN" --listen "127.0.0.1:$OPORT" --store "$STORE" \
			--health-interval 1s
		if ! bench_wait_http "http://127.0.0.1:$OPORT/healthz" 20; then
			echo "origin: sluice-origin did not start: $(tail -n 1 "$T/origin.log")"
			OPORT=""
		fi
	else
		echo "origin: sluice store put failed: $(tail -n 1 "$T/store-put.log")"
	fi
fi

if [ -n "$OPORT" ]; then
	if ! curl -sf --max-time 5 -o "$WWW$PL_PATH" "http://127.0.0.1:$OPORT$PL_PATH" ||
	   ! grep -q '^#EXTM3U' "$WWW$PL_PATH"; then
		echo "origin: GET $PL_PATH did not return a playlist - origin side skipped"
		OPORT=""
	fi
fi
if [ -z "$OPORT" ]; then
	# same shape as a 6-segment live window
	{
		printf '#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n'
		printf '#EXT-X-MEDIA-SEQUENCE:14\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n'
		i=0
		while [ $i -lt 6 ]; do
			printf '#EXT-X-PROGRAM-DATE-TIME:2026-11-21T10:00:%02d.000Z\n#EXTINF:2.000,\n' \
				$((i * 2))
			printf 'http://127.0.0.1:8080/seg/%s.ts\n' \
				"$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)"
			i=$((i + 1))
		done
	} >"$WWW$PL_PATH"
fi

bench_nginx static "$T/static.conf"
bench_wait_http "http://127.0.0.1:$SPORT/healthz" 20 ||
	{ echo "origin: nginx did not start: $(tail -n 2 "$T/static/logs/error.log")"; exit 1; }
echo "origin: playlist of $(wc -c <"$WWW$PL_PATH") bytes; wrk -t$BENCH_THREADS" \
	"-c$BENCH_CONNS -d${BENCH_DURATION}s, best of $BENCH_ROUNDS rounds"

BEST_origin_RPS=0
BEST_origin_TXT="not built"
[ -z "$OPORT" ] || BEST_origin_RPS=-1
r=0
while [ $r -lt "$BENCH_ROUNDS" ]; do
	[ -z "$OPORT" ] || bench_wrk_best origin "http://127.0.0.1:$OPORT$PL_PATH"
	bench_wrk_best nginx "http://127.0.0.1:$SPORT$PL_PATH"
	r=$((r + 1))
done
echo "origin live.m3u8: sluice-origin $BEST_origin_TXT | nginx static copy $BEST_nginx_TXT |" \
	"ratio $(bench_ratio "$BEST_origin_RPS" "$BEST_nginx_RPS") (goal >= 1.0)"
[ -n "$OPORT" ] || exit 0

# --- steering: the same request against a second origin on the same store that has 3
# healthy edges registered; both origins measured in interleaved rounds ---
EPORT=$(bench_free_port)
bench_spawn origin-edges "$ORIGIN" --listen "127.0.0.1:$EPORT" --store "$STORE" \
	--health-interval 1s
if ! bench_wait_http "http://127.0.0.1:$EPORT/healthz" 20; then
	echo "origin: second sluice-origin did not start: $(tail -n 1 "$T/origin-edges.log")"
	exit 1
fi
i=1
while [ $i -le $EDGES ]; do
	code=$(curl -s -o "$T/post.out" -w '%{http_code}' --max-time 5 -X POST \
		-H 'Content-Type: application/json' \
		--data "{\"id\":\"e$i\",\"url\":\"http://127.0.0.1:$SPORT\",\"capacity\":100}" \
		"http://127.0.0.1:$EPORT/api/v1/edges") || true
	case $code in
	2??) ;;
	*) echo "origin: POST /api/v1/edges e$i answered $code: $(head -c 200 "$T/post.out")" ;;
	esac
	i=$((i + 1))
done
healthy=0
n=0
while [ $n -lt 100 ]; do
	healthy=$(curl -sf --max-time 2 "http://127.0.0.1:$EPORT/api/v1/edges" |
		grep -o '"healthy": *true' | wc -l) || true
	[ "$healthy" -ge $EDGES ] && break
	sleep 0.1
	n=$((n + 1))
done
put_segments $MORE_SEGMENTS "$NEXT_START" ||
	echo "origin: store put of new segments failed: $(tail -n 1 "$T/store-put.log")"
n=0
steered=0
while [ $n -lt 50 ]; do
	steered=$(curl -sf --max-time 5 "http://127.0.0.1:$EPORT$PL_PATH" |
		grep -c "^http://127.0.0.1:$SPORT/seg/" || true)
	[ "$steered" -lt $MORE_SEGMENTS ] || break
	sleep 0.1
	n=$((n + 1))
done
echo "origin: $healthy/$EDGES edges healthy, $steered playlist URIs on edges" \
	"($(curl -sf --max-time 5 "http://127.0.0.1:$OPORT$PL_PATH" |
		grep -c "^http://127.0.0.1:$SPORT/seg/" || true) without edges)"
BEST_plain_RPS=-1
BEST_steered_RPS=-1
r=0
while [ $r -lt "$BENCH_ROUNDS" ]; do
	bench_wrk_best plain "http://127.0.0.1:$OPORT$PL_PATH"
	bench_wrk_best steered "http://127.0.0.1:$EPORT$PL_PATH"
	r=$((r + 1))
done
echo "origin steering live.m3u8: $EDGES edges $BEST_steered_TXT | no edges $BEST_plain_TXT |" \
	"ratio $(bench_ratio "$BEST_steered_RPS" "$BEST_plain_RPS") (goal ~1.0)"
