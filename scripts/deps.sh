#!/bin/sh
# Install (as root) or name (otherwise) the Debian packages one part of
# tollgate needs.  usage: deps.sh [--check] build|test|bench|fuzz
# --check only reports: exit 1 and print the apt-get line if any is missing.
set -u
check=0
[ "${1:-}" = "--check" ] && { check=1; shift; }
set_build="gcc make pkg-config libevent-dev libssl-dev node-llhttp libcjson-dev libsqlite3-dev zlib1g-dev"
set_test="$set_build curl sqlite3 openssl nodejs npm python3-httpx sox libsox-fmt-mp3 lame flac vorbis-tools chromium"
set_bench="$set_test nginx-light wrk mitmproxy"
set_fuzz="$set_build clang libclang-rt-14-dev"
case "${1:-build}" in
build) want=$set_build ;;
test) want=$set_test ;;
bench) want=$set_bench ;;
fuzz) want=$set_fuzz ;;
*) echo "deps.sh: unknown set '$1' (build, test, bench, fuzz)" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# nodejs may come from outside Debian (NodeSource, nvm): accept any node/npm on PATH.
case "$missing" in *nodejs*|*npm*)
	command -v node >/dev/null && command -v npm >/dev/null &&
		missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//') ;;
esac
[ -z "$missing" ] && exit 0
if [ "$check" = 1 ]; then
	echo "missing Debian packages:$missing"
	echo "  apt-get install -y$missing"
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "tollgate needs these Debian packages:$missing"
	echo "run as root:  apt-get update && apt-get install -y$missing"
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Update the index once if a package is unknown to it (fresh machine).
apt-get install -y -q $missing || { apt-get update -q && apt-get install -y -q $missing; }
