#!/bin/sh
# tests/run.sh — the whole suite: unit tests, then scenario tests.
# Each part ends with "N passed, N failed"; this adds them up and ends
# with the total on a line of its own.  Exit status is non-zero when any
# test failed or a part did not report (crashed, hung past its limit).
set -u
BUILD=${BUILD:-build}
export BUILD
cd "$(dirname "$0")/.." || exit 2
total_pass=0
total_fail=0
status=0

part() { # name command...
	name=$1
	shift
	out=$(mktemp)
	echo "== $name"
	"$@" 2>&1 | tee "$out"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
	if [ -z "$line" ]; then
		echo "!! $name reported no result: counted as 1 failure"
		total_fail=$((total_fail + 1))
		status=1
	else
		p=$(echo "$line" | cut -d' ' -f1)
		f=$(echo "$line" | cut -d' ' -f3)
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		[ "$f" -eq 0 ] || status=1
	fi
	rm -f "$out"
}

part unit timeout 600 "$BUILD/unit"
part scenario timeout 900 node tests/scenario/run.mjs
echo
echo "$total_pass passed, $total_fail failed"
exit $status
