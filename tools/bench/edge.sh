#!/bin/sh
# shellcheck disable=SC2034,SC2154 # variables set and read through eval
# tools/bench/edge.sh - sluice-edge against its anchors, same objects, same load.
#
# Objects: random bytes of 4 KiB, 256 KiB and 2 MiB, named /seg/<sha256>.ts. Upstream of every
# pull-through cache: a logging nginx ("upstream front") that proxies to bin/sluice-origin
# serving a store holding the objects, or serves the files itself when the origin is not
# built. Its access log counts upstream requests. It is paced (BENCH_UPSTREAM_RATE per
# response) so that concurrent cold misses overlap in time.
# Warm case, per size, after one warm-up request per object and cache: wrk (best of
# BENCH_ROUNDS interleaved rounds of BENCH_DURATION, default 2 x 3 s) against
#   sluice-edge (--threads W --cache-mem 256M), nginx proxy_cache (lock on),
#   nginx static sendfile of the files, Varnish (malloc 256m)
# and one result line per anchor with ratio = sluice req/s / anchor req/s.
# Equal workers: W = BENCH_NGINX_WORKERS (default 2) is both nginx's worker_processes and
# sluice-edge's ring threads; Varnish runs its default 2 thread pools (one thread per
# connection inside each). wrk shares the same cores, so every server's CPU per request
# also slows the client: on a 2-core machine the large-object cases are client-bound.
# Cold case: 64 clients ask at once for 20 never-fetched 256 KiB objects (each client all
# 20, starting at a different one); upstream requests counted per object (goal: exactly one)
# and time to serve all 1280; ratio = anchor time / sluice time.
# BENCH_SIZES (default "4K 256K 2M") picks the warm sizes; BENCH_COLD=0 skips the cold case.
# Runs on 127.0.0.1 only; every process is stopped on exit.
set -eu
BENCH_DURATION=${BENCH_DURATION:-3}
# shellcheck source=tools/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init

COLD_OBJECTS=20
COLD_CLIENTS=64
COLD_SIZE=262144
COLD_TIMEOUT_S=60
BENCH_UPSTREAM_RATE=${BENCH_UPSTREAM_RATE:-32m}
SIZES=""
for _s in 4KiB:4096 256KiB:262144 2MiB:2097152; do
	case " ${BENCH_SIZES:-4K 256K 2M} " in
	*" ${_s%%iB:*} "*) SIZES="$SIZES $_s" ;;
	esac
done
T=$BENCH_TMP
WWW=$T/www
mkdir -p "$WWW/seg"

EDGE=$(bench_bin sluice-edge)
ORIGIN=$(bench_bin sluice-origin)
CLI=$(bench_bin sluice)

# make_object SIZE -> prints the cid of a new random object stored in $WWW/seg/<cid>.ts
make_object()
{
	head -c "$1" /dev/urandom >"$T/obj.tmp"
	c=$(sha256sum "$T/obj.tmp" | cut -c1-64)
	mv "$T/obj.tmp" "$WWW/seg/$c.ts"
	echo "$c"
}

WARM_CIDS=""
for s in $SIZES; do
	cid=$(make_object "${s#*:}")
	WARM_CIDS="$WARM_CIDS ${s%%:*}:$cid"
done
# make_set -> prints the cids of COLD_OBJECTS new objects of COLD_SIZE
make_set()
{
	i=0
	while [ $i -lt $COLD_OBJECTS ]; do
		make_object $COLD_SIZE
		i=$((i + 1))
	done
}
COLD_SLUICE=$(make_set)
COLD_NGINX=$(make_set)
COLD_VARNISH=$(make_set)

# --- upstream: sluice-origin behind a logging nginx, or the files themselves ---
UPSTREAM_DESC="nginx static files"
UP_LOCATION="root $WWW;"
if [ -n "$ORIGIN" ] && [ -n "$CLI" ]; then
	STORE=$T/store
	ok=1
	"$CLI" store init "$STORE" >"$T/store-init.log" 2>&1 || true
	start=$(( $(date +%s) - 7200 ))
	for f in "$WWW"/seg/*.ts; do
		if ! "$CLI" store put "$STORE" --stream bench-edge --start "$start" --duration 2s \
			"$f" >>"$T/store-put.log" 2>&1; then
			ok=0
			break
		fi
		start=$((start + 2))
	done
	if [ $ok -eq 1 ]; then
		OPORT=$(bench_free_port)
		bench_spawn origin "$ORIGIN" --listen "127.0.0.1:$OPORT" --store "$STORE"
		if bench_wait_http "http://127.0.0.1:$OPORT/healthz"; then
			UPSTREAM_DESC="sluice-origin (store of the same objects)"
			UP_LOCATION="proxy_pass http://127.0.0.1:$OPORT;"
		else
			echo "edge: sluice-origin did not start ($(tail -n 1 "$T/origin.log")); static upstream"
		fi
	else
		echo "edge: sluice store put failed ($(tail -n 1 "$T/store-put.log")); static upstream"
	fi
else
	echo "edge: sluice-origin not built; upstream is nginx static files"
fi

SPORT=$(bench_free_port)
UPORT=$(bench_free_port)
sed -e "s|@SPORT@|$SPORT|g" -e "s|@UPORT@|$UPORT|g" -e "s|@WWW@|$WWW|g" \
	-e "s|@UP_LOCATION@|$UP_LOCATION|g" -e "s|@RATE@|$BENCH_UPSTREAM_RATE|g" \
	"$BENCH_DIR/nginx-static.conf" >"$T/static.conf"
bench_nginx static "$T/static.conf"
NPORT=$(bench_free_port)
sed -e "s|@NPORT@|$NPORT|g" -e "s|@UPORT@|$UPORT|g" "$BENCH_DIR/nginx-proxy-cache.conf" \
	>"$T/proxy.conf"
bench_nginx proxy "$T/proxy.conf"
VPORT=$(bench_free_port)
bench_varnish varnish "$VPORT" "$UPORT"
EPORT=""
if [ -n "$EDGE" ]; then
	EPORT=$(bench_free_port)
	bench_spawn edge "$EDGE" --listen "127.0.0.1:$EPORT" --upstream "http://127.0.0.1:$UPORT" \
		--threads "${BENCH_NGINX_WORKERS:-2}" --cache-mem 256M
fi
for p in $SPORT $UPORT $NPORT $VPORT $EPORT; do
	if ! bench_wait_port "$p" 20; then
		echo "edge: a server did not come up on port $p:"
		tail -n 3 "$T"/*.log "$T"/*/logs/error.log 2>/dev/null
		exit 1
	fi
done
if [ -n "$EDGE" ] && ! bench_wait_http "http://127.0.0.1:$EPORT/healthz"; then
	echo "edge: sluice-edge /healthz not answering ($(tail -n 1 "$T/edge.log"))"
	EPORT=""
fi
echo "edge: upstream $UPSTREAM_DESC; wrk -t$BENCH_THREADS -c$BENCH_CONNS -d${BENCH_DURATION}s," \
	"best of $BENCH_ROUNDS rounds"
[ -n "$EDGE" ] || echo "edge: sluice-edge not built - sluice side skipped"

# fetch_ok PORT CID -> 0 when /seg/CID.ts answers 200 with bytes hashing to CID
fetch_ok()
{
	h=$(curl -sf --max-time 10 "http://127.0.0.1:$1/seg/$2.ts" | sha256sum | cut -c1-64)
	[ "$h" = "$2" ]
}

# --- warm-up: one request per object and cache ---
for p in $NPORT $VPORT $EPORT; do
	for wc in $WARM_CIDS; do
		fetch_ok "$p" "${wc#*:}" || echo "edge: warm-up of ${wc%%:*} on port $p failed"
	done
done

# --- warm runs: BENCH_ROUNDS interleaved rounds, best run of each kept ---
proxy_PORT=$NPORT
proxy_NAME="nginx proxy_cache"
static_PORT=$SPORT
static_NAME="nginx static sendfile"
varnish_PORT=$VPORT
varnish_NAME=varnish
for wc in $WARM_CIDS; do
	size=${wc%%:*}
	path="/seg/${wc#*:}.ts"
	BEST_sluice_RPS=0
	BEST_sluice_TXT="not built"
	[ -z "$EPORT" ] || BEST_sluice_RPS=-1
	for k in proxy static varnish; do
		eval "BEST_${k}_RPS=-1"
	done
	r=0
	while [ $r -lt "$BENCH_ROUNDS" ]; do
		[ -z "$EPORT" ] || bench_wrk_best sluice "http://127.0.0.1:$EPORT$path"
		for k in proxy static varnish; do
			eval "p=\$${k}_PORT"
			bench_wrk_best "$k" "http://127.0.0.1:$p$path"
		done
		r=$((r + 1))
	done
	for k in proxy static varnish; do
		eval "name=\$${k}_NAME; rps=\$BEST_${k}_RPS; txt=\$BEST_${k}_TXT"
		echo "edge $size vs $name: sluice $BEST_sluice_TXT | $name $txt |" \
			"ratio $(bench_ratio "$BEST_sluice_RPS" "$rps")"
	done
done

# --- cold: 64 clients, 20 new objects at once ---
if [ "${BENCH_COLD:-1}" = 0 ]; then
	echo "edge: cold case skipped (BENCH_COLD=0)"
	exit 0
fi
# cold_run PORT CIDS... -> sets COLD_TXT, COLD_SECS, COLD_UP, COLD_MAX
cold_run()
{
	cp=$1
	shift
	out=$(timeout $((COLD_TIMEOUT_S + 10)) "$BENCH_PY" "$BENCH_DIR/cold.py" 127.0.0.1 "$cp" \
		$COLD_CLIENTS $COLD_TIMEOUT_S "$@" 2>&1 | tail -n 1) || true
	COLD_SECS=$(echo "$out" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')
	okn=$(echo "$out" | sed -n 's/.*ok=\([0-9]*\).*/\1/p')
	bad=$(echo "$out" | sed -n 's/.*bad=\([0-9]*\).*/\1/p')
	COLD_UP=0
	COLD_MAX=0
	for c in "$@"; do
		n=$(grep -c "/seg/$c.ts" "$T/static/logs/up.log" || true)
		COLD_UP=$((COLD_UP + n))
		[ "$n" -le "$COLD_MAX" ] || COLD_MAX=$n
	done
	if [ -z "$COLD_SECS" ]; then
		COLD_TXT="failed: $out"
		COLD_SECS=0
		return 0
	fi
	COLD_TXT="$COLD_UP upstream req (max $COLD_MAX/object), $okn/$((COLD_CLIENTS * $#)) ok"
	[ "${bad:-0}" -eq 0 ] || COLD_TXT="$COLD_TXT, $bad bad"
	COLD_TXT="$COLD_TXT in ${COLD_SECS}s"
}

label="edge cold ${COLD_OBJECTS}x256KiB, $COLD_CLIENTS clients"
SC_TXT="not built"
SC_SECS=0
if [ -n "$EPORT" ]; then
	# shellcheck disable=SC2086
	cold_run "$EPORT" $COLD_SLUICE
	SC_TXT=$COLD_TXT
	SC_SECS=$COLD_SECS
	verdict="FAIL"
	[ "$COLD_UP" -eq $COLD_OBJECTS ] && [ "$COLD_MAX" -eq 1 ] && verdict="ok"
	echo "edge cold coalescing: sluice $COLD_UP upstream requests for $COLD_OBJECTS" \
		"objects (goal exactly $COLD_OBJECTS): $verdict"
fi
# shellcheck disable=SC2086
cold_run "$NPORT" $COLD_NGINX
echo "$label vs nginx proxy_cache_lock: sluice $SC_TXT | nginx $COLD_TXT |" \
	"ratio $(bench_ratio "$COLD_SECS" "$SC_SECS") (time)"
# shellcheck disable=SC2086
cold_run "$VPORT" $COLD_VARNISH
echo "$label vs varnish: sluice $SC_TXT | varnish $COLD_TXT |" \
	"ratio $(bench_ratio "$COLD_SECS" "$SC_SECS") (time)"
if [ -n "$EPORT" ]; then
	m=$(curl -sf --max-time 5 "http://127.0.0.1:$EPORT/metrics" | grep -E \
		'^sluice_edge_(cache_hits_total|cache_misses_total|upstream_requests_total|verify_failures_total)' |
		sed 's/^sluice_edge_//; s/_total//; s/ /=/' | tr '\n' ' ')
	echo "edge: sluice-edge metrics after the run: $m"
fi
