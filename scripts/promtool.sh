#!/bin/sh
# Puts Debian's promtool (from the prometheus package) at
# $BUILD/tools/promtool without installing the package, which would start
# a Prometheus server on :9090 (tollgate's admin port).  The metrics test
# checks /metrics with it; where the package cannot be fetched the test
# says it skipped that check.  usage: promtool.sh [BUILD]
set -u
dir="${1:-build}/tools"
[ -x "$dir/promtool" ] && exit 0
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || exit 0
tmp=$(mktemp -d) || exit 0
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1) ||
	(apt-get update -q >/dev/null 2>&1 && cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1) ||
	{ echo "promtool.sh: could not fetch Debian's prometheus package; the promtool check will be skipped"; exit 0; }
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x" && mkdir -p "$dir" &&
	cp "$tmp/x/usr/bin/promtool" "$dir/promtool" && echo "promtool.sh: $dir/promtool"
exit 0
