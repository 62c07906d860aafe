#!/bin/sh
# Install every Debian and npm package sluice needs. Idempotent: packages that
# are already present are skipped, so a second run costs one dpkg query.
set -eu
PKGS="build-essential pkg-config clang llvm libclang-rt-14-dev
liburing-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
libavfilter-dev libavdevice-dev libswresample-dev libcurl4-openssl-dev liblmdb-dev lmdb-utils
libmicrohttpd-dev libssl-dev libjansson-dev libcmocka-dev
python3 python3-pytest python3-gi gir1.2-gst-rtsp-server-1.0
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
ffmpeg prometheus nginx libnginx-mod-rtmp varnish wrk curl
chromium iproute2 procps psmisc time socat"
# Node.js: any installed node+npm will do; otherwise Debian's.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
	# Debian starts these services on install; sluice runs its own instances.
	for s in nginx varnish prometheus; do
		$SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true
		$SUDO service "$s" stop >/dev/null 2>&1 || true
	done
fi
# Browser-side code and the headless browser driver for tests come from npm.
top=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$top/origin/web/node_modules/hls.js/dist/hls.min.js" ] ||
   [ ! -d "$top/origin/web/node_modules/playwright-core" ]; then
	(cd "$top/origin/web" && npm install --no-audit --no-fund --loglevel=error)
fi
