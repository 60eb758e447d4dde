#!/bin/sh
# tests/fuzz/run.sh — builds each fuzz driver with clang's libFuzzer and
# ASan/UBSan and runs it for FUZZ_SECONDS (default 20) seconds.  Corpora
# and crash files go to FUZZ_OUT (default build/fuzz/).  FUZZ_ONLY, when
# set, runs only the drivers whose name contains it.  Bounded: it stops on
# its own.
set -eu
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-20}
out=${FUZZ_OUT:-build/fuzz}
only=${FUZZ_ONLY:-}
mkdir -p "$out"
CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -I. -I/usr/share/include/llhttp -D_GNU_SOURCE -DLLHTTP_STRICT_MODE=1"
common="meter/jscan.c meter/sse.c meter/endpoint.c meter/request.c meter/response.c meter/multipart.c meter/audio.c"
llhttp="/usr/share/llhttp/api.c /usr/share/llhttp/http.c /usr/share/llhttp/llhttp.c"
status=0
for drv in tests/fuzz/fuzz_*.c; do
	name=$(basename "$drv" .c)
	case "$name" in *"$only"*) ;; *) continue ;; esac
	extra=""
	[ "$name" = fuzz_http ] && extra="proxy/http.c $llhttp"
	# past METER_MULTIPART_MAX_HEADER, and whole small audio files
	maxlen=4096
	case "$name" in fuzz_multipart) maxlen=9000 ;; fuzz_audio) maxlen=8000 ;; esac
	clang $CFLAGS -o "$out/$name" "$drv" $common $extra -lz -lm
	mkdir -p "$out/$name.corpus"
	echo "== $name ($SECS s)"
	(cd "$out" && "./$name" -max_total_time="$SECS" -max_len="$maxlen" \
	    -artifact_prefix="$name-" "$name.corpus" >"$name.log" 2>&1) ||
		{ echo "!! $name found a crash: see $out/$name.log"; status=1; }
	tail -1 "$out/$name.log"
done
exit $status
