# tools/bench/lib.sh - shared helpers for the sluice benchmark scripts (POSIX sh).
#
# Contract: source it from tools/bench/<part>.sh, then call bench_init once.
#   bench_init                 make $BENCH_TMP and a trap that stops every process
#                              started with bench_spawn and removes $BENCH_TMP on exit
#   bench_spawn NAME CMD...    start CMD in the background (output in $BENCH_TMP/NAME.log),
#                              remember its pid for the cleanup; sets SPAWN_PID
#   bench_stop PID             stop one spawned process (TERM, then KILL after 5 s)
#   bench_free_port            print a free TCP port on 127.0.0.1
#   bench_wait_port PORT [S]   wait up to S seconds (default 10) until 127.0.0.1:PORT accepts
#   bench_wait_http URL [S]    wait up to S seconds until URL answers 2xx
#   bench_wrk URL              wrk for $BENCH_DURATION with $BENCH_THREADS/$BENCH_CONNS; sets
#                              WRK_RPS WRK_MBPS WRK_P99_MS WRK_REQS WRK_ERRORS WRK_TXT
#                              (WRK_TXT: "52000 req/s 203.1 MB/s p99 2.10ms")
#   bench_wrk_best KEY URL     bench_wrk keeping the best of several rounds in
#                              BEST_<KEY>_RPS and BEST_<KEY>_TXT
#   bench_nginx NAME CONF      start nginx with the http{} body CONF (file) in $BENCH_TMP/NAME
#   bench_varnish NAME PORT UPSTREAM_PORT   start varnishd (malloc 256m) in front of upstream
#   bench_ratio A B            print A/B with two decimals, or n/a
#   bench_bin NAME             print the path of a sluice binary ($SLUICE_BIN or <top>/bin)
#                              or nothing when it is not built
#   bench_skip TEXT            print a "not built"/"skipped" note line
# Result lines: one per comparison, "<label>: <a> | <b> | ratio <x>"; run.sh collects every
# line that contains "| ratio " into its summary table.
# Everything listens on 127.0.0.1 only. Timeouts bound every wait and every run.

BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_CONNS=${BENCH_CONNS:-64}
BENCH_DURATION=${BENCH_DURATION:-5}
BENCH_ROUNDS=${BENCH_ROUNDS:-2}
BENCH_WAIT_DEFAULT_S=10
BENCH_STOP_GRACE_S=5
BENCH_WRK_SLACK_S=20
BENCH_PY=/usr/bin/python3
BENCH_DIR=${BENCH_DIR:-$(cd "$(dirname "$0")" && pwd)}
BENCH_TOP=$(cd "$BENCH_DIR/../.." && pwd)
BENCH_PIDS=""

bench_cleanup()
{
	for _bp in $BENCH_PIDS; do
		kill -TERM "$_bp" 2>/dev/null || true
	done
	for _bp in $BENCH_PIDS; do
		_bn=0
		while kill -0 "$_bp" 2>/dev/null && [ $_bn -lt $((BENCH_STOP_GRACE_S * 10)) ]; do
			sleep 0.1
			_bn=$((_bn + 1))
		done
		kill -KILL "$_bp" 2>/dev/null || true
	done
	BENCH_PIDS=""
	if [ -n "${BENCH_TMP:-}" ] && [ -d "$BENCH_TMP" ] && [ -z "${BENCH_KEEP:-}" ]; then
		rm -rf "$BENCH_TMP"
	fi
}

bench_init()
{
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
	chmod 755 "$BENCH_TMP"
	trap 'bench_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	for _bt in wrk curl; do
		command -v "$_bt" >/dev/null 2>&1 || { echo "bench: $_bt missing (make deps)"; exit 1; }
	done
}

bench_spawn()
{
	_bname=$1
	shift
	"$@" >"$BENCH_TMP/$_bname.log" 2>&1 &
	SPAWN_PID=$!
	BENCH_PIDS="$BENCH_PIDS $SPAWN_PID"
}

bench_stop()
{
	kill -TERM "$1" 2>/dev/null || true
	_bn=0
	while kill -0 "$1" 2>/dev/null && [ $_bn -lt $((BENCH_STOP_GRACE_S * 10)) ]; do
		sleep 0.1
		_bn=$((_bn + 1))
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	_brest=""
	for _bp in $BENCH_PIDS; do
		[ "$_bp" = "$1" ] || _brest="$_brest $_bp"
	done
	BENCH_PIDS=$_brest
}

bench_free_port()
{
	$BENCH_PY -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

bench_wait_port()
{
	_blim=$(( ${2:-$BENCH_WAIT_DEFAULT_S} * 10 ))
	_bn=0
	while [ $_bn -lt "$_blim" ]; do
		_brc=0
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" || _brc=$?
		# 7: refused, 28: timeout; anything else means something accepted the connection
		[ $_brc -ne 7 ] && [ $_brc -ne 28 ] && return 0
		sleep 0.1
		_bn=$((_bn + 1))
	done
	return 1
}

bench_wait_http()
{
	_blim=$(( ${2:-$BENCH_WAIT_DEFAULT_S} * 10 ))
	_bn=0
	while [ $_bn -lt "$_blim" ]; do
		curl -sf -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
		_bn=$((_bn + 1))
	done
	return 1
}

bench_wrk()
{
	WRK_RPS=0
	WRK_MBPS=0
	WRK_P99_MS=0
	WRK_REQS=0
	export WRK_REQS
	WRK_ERRORS=0
	_bout=$(timeout $((BENCH_DURATION + BENCH_WRK_SLACK_S)) wrk -t"$BENCH_THREADS" \
		-c"$BENCH_CONNS" -d"${BENCH_DURATION}s" --timeout 5s -s "$BENCH_DIR/report.lua" \
		"$1" 2>&1) || true
	_bline=$(printf '%s\n' "$_bout" | grep '^WRK_RESULT ' | tail -n 1)
	if [ -z "$_bline" ]; then
		WRK_TXT="wrk failed: $(printf '%s' "$_bout" | tail -n 1)"
		return 1
	fi
	# shellcheck disable=SC2086
	set -- $_bline
	shift
	for _bkv in "$@"; do
		case $_bkv in
		requests=*) WRK_REQS=${_bkv#*=} ;;
		rps=*) WRK_RPS=${_bkv#*=} ;;
		mbps=*) WRK_MBPS=${_bkv#*=} ;;
		p99_ms=*) WRK_P99_MS=${_bkv#*=} ;;
		errors=*) WRK_ERRORS=${_bkv#*=} ;;
		esac
	done
	WRK_TXT="$WRK_RPS req/s $WRK_MBPS MB/s p99 ${WRK_P99_MS}ms"
	[ "$WRK_ERRORS" -eq 0 ] || WRK_TXT="$WRK_TXT ($WRK_ERRORS errors)"
	if [ "$WRK_REQS" -eq 0 ]; then
		WRK_TXT="$WRK_TXT (no answers: FAIL)"
		return 1
	fi
	return 0
}

# bench_wrk_best KEY URL: bench_wrk, keeping the best run per KEY (in BEST_<KEY>_RPS and
# BEST_<KEY>_TXT; a failed run counts as 0 req/s). Callers run several interleaved rounds.
bench_wrk_best()
{
	bench_wrk "$2" || true
	_bprev=-1
	eval "_bprev=\${BEST_$1_RPS:--1}"
	if awk -v a="$WRK_RPS" -v b="$_bprev" 'BEGIN { exit !(a + 0 > b + 0) }'; then
		eval "BEST_$1_RPS=\$WRK_RPS"
		eval "BEST_$1_TXT=\$WRK_TXT"
	fi
}

# nginx master in the foreground of its own process, config and logs in $BENCH_TMP/NAME.
# CONF holds the inside of http{}; @DIR@ in it is replaced by that directory.
bench_nginx()
{
	_bd="$BENCH_TMP/$1"
	mkdir -p "$_bd/logs" "$_bd/tmp"
	{
		echo "daemon off;"
		echo "master_process on;"
		echo "user root root;"
		echo "worker_processes ${BENCH_NGINX_WORKERS:-2};"
		echo "pid $_bd/nginx.pid;"
		echo "error_log $_bd/logs/error.log warn;"
		echo "events { worker_connections 4096; multi_accept on; }"
		echo "http {"
		echo "client_body_temp_path $_bd/tmp/body;"
		echo "proxy_temp_path $_bd/tmp/proxy;"
		echo "fastcgi_temp_path $_bd/tmp/fcgi;"
		echo "uwsgi_temp_path $_bd/tmp/uwsgi;"
		echo "scgi_temp_path $_bd/tmp/scgi;"
		sed "s|@DIR@|$_bd|g" "$2"
		echo "}"
	} >"$_bd/nginx.conf"
	bench_spawn "$1" nginx -e "$_bd/logs/error.log" -p "$_bd" -c "$_bd/nginx.conf"
}

bench_varnish()
{
	_bd="$BENCH_TMP/$1"
	mkdir -p "$_bd"
	bench_spawn "$1" varnishd -F -j none -n "$_bd" -a "127.0.0.1:$2" -b "127.0.0.1:$3" \
		-s malloc,256m -p default_ttl=3600
}

bench_ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b;
		else printf "n/a" }'
}

bench_bin()
{
	_bp="${SLUICE_BIN:-$BENCH_TOP/bin}/$1"
	[ -x "$_bp" ] && echo "$_bp"
	return 0
}

bench_skip()
{
	echo "$*"
}
