#!/bin/sh
# bench/run.sh — requests/s and latency, side by side, from one run.
#
# Upstream: nginx over TLS answering every POST with a canned chat
# completion (return 200), so the proxies are what is measured.  Then the
# same wrk load (non-streaming small chat completions, keep-alive) against:
#   1. the upstream directly (TLS),
#   2. nginx proxy_pass to it (keep-alive upstream pool, TLS verified),
#   3. tollgate (metering, SQLite rows) to it;
#   4. tollgate with limits on the requests' workspace (never reached, so
#      every request is admitted, reserved and settled), then with 2
#      workers: one workspace for all (contended) vs 32 workspaces;
# then forward-proxy mode (CONNECT + TLS interception) for tollgate and
# mitmproxy on the same upstream: requests/s, p50/p99 and new TLS
# handshakes per second.
# Both proxies get the same worker count (BENCH_WORKERS, default 1).
# Everything binds 127.0.0.1; every run is bounded by BENCH_SECONDS.
set -eu
cd "$(dirname "$0")/.."
WORKERS=${BENCH_WORKERS:-1}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNECTIONS:-32}
BUILD=${BUILD:-build}
dir=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

freeport() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# certificates: a CA and a localhost leaf
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj "/CN=bench CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
	-addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
	-keyout "$dir/leaf.key" -out "$dir/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/ext"
openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
	-CAcreateserial -days 1 -extfile "$dir/ext" -out "$dir/leaf.pem" 2>/dev/null

UP=$(freeport); NG=$(freeport); TG=$(freeport); AD=$(freeport)
body='{"id":"chatcmpl-bench","object":"chat.completion","created":1741570283,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}'

cat >"$dir/upstream.conf" <<NGINX
worker_processes 1;
pid $dir/upstream.pid;
error_log $dir/upstream.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UP ssl;
    ssl_certificate $dir/leaf.pem;
    ssl_certificate_key $dir/leaf.key;
    location / { default_type application/json; return 200 '$body'; }
  }
}
NGINX
cat >"$dir/proxy.conf" <<NGINX
worker_processes $WORKERS;
pid $dir/proxy.pid;
error_log $dir/proxy.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream api { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NG;
    location / {
      proxy_pass https://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host localhost;
      proxy_ssl_server_name on;
      proxy_ssl_name localhost;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $dir/ca.pem;
      proxy_ssl_session_reuse on;
    }
  }
}
NGINX
nginx -c "$dir/upstream.conf" -g 'daemon off;' & pids="$pids $!"
nginx -c "$dir/proxy.conf" -g 'daemon off;' & pids="$pids $!"
# Limits every request passes: the cost measured is reserving and settling.
LIM='{"limits":{"rpm":4000000000,"rpd":4000000000,"tpm":1000000000000,"tpd":1000000000000,"daily_usd":1000000,"monthly_usd":1000000}}'
WS="\"default\":{\"limits\":{}},\"limited\":$LIM"
for i in $(seq 0 31); do WS="$WS,\"ws-$i\":$LIM"; done
tollgate_conf() { # file port admin data workers
	cat >"$1" <<JSON
{"listen":"127.0.0.1:$2","admin_listen":"127.0.0.1:$3","upstream":"https://localhost:$UP",
 "upstream_ca_file":"$dir/ca.pem","data_dir":"$4","workers":$5,"workspaces":{$WS}}
JSON
}
tollgate_conf "$dir/tollgate.json" "$TG" "$AD" "$dir/tg" "$WORKERS"
"$BUILD/tollgate" -c "$dir/tollgate.json" 2>"$dir/tollgate.log" & pids="$pids $!"
TG2=$(freeport); AD2=$(freeport)
tollgate_conf "$dir/tollgate2.json" "$TG2" "$AD2" "$dir/tg2" 2
"$BUILD/tollgate" -c "$dir/tollgate2.json" 2>"$dir/tollgate2.log" & pids="$pids $!"
sleep 1

cat >"$dir/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}'
LUA
sed 's/^wrk.body/wrk.headers["X-Tollgate-Workspace"] = "limited"\nwrk.body/' "$dir/post.lua" >"$dir/post-limited.lua"
cat "$dir/post.lua" - >"$dir/post-spread.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  wrk.headers["X-Tollgate-Workspace"] = "ws-" .. (n % 32)
  return wrk.format()
end
LUA

# ms from a wrk latency like 812.00us / 1.23ms / 1.01s
to_ms() { awk -v v="$1" 'BEGIN{n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n}'; }

measure() { # label url [wrk script]
	out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "${3:-$dir/post.lua}" "$2" 2>&1)
	rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
	p50=$(echo "$out" | awk '$1=="50%"{print $2}')
	p99=$(echo "$out" | awk '$1=="99%"{print $2}')
	errs=$(echo "$out" | awk '/Non-2xx|Socket errors/{print}' | tr '\n' ' ')
	printf '%-34s %10s %9s %9s  %s\n' "$1" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "$errs"
}

echo "tollgate bench: $SECS s per target, $CONNS connections, wrk 1 thread, $WORKERS proxy worker(s), $(nproc) cores"
printf '%-34s %10s %9s %9s\n' "target" "req/s" "p50 ms" "p99 ms"
measure "upstream direct (nginx TLS)" "https://localhost:$UP/v1/chat/completions"
measure "nginx proxy_pass -> upstream" "http://127.0.0.1:$NG/v1/chat/completions"
measure "tollgate -> upstream" "http://127.0.0.1:$TG/v1/chat/completions"
measure "tollgate, limits on workspace" "http://127.0.0.1:$TG/v1/chat/completions" "$dir/post-limited.lua"
rows=$(sqlite3 "$dir/tg/tollgate.db" "select count(*) from requests" 2>/dev/null || echo "?")
refused=$(sqlite3 "$dir/tg/tollgate.db" "select count(*) from requests where status = 429" 2>/dev/null || echo "?")
echo "tollgate stored $rows rows (one per request answered; $refused refused by limits)"
echo
echo "limits under contention: tollgate with 2 workers"
printf '%-34s %10s %9s %9s\n' "target" "req/s" "p50 ms" "p99 ms"
measure "2 workers, no limits" "http://127.0.0.1:$TG2/v1/chat/completions"
measure "2 workers, limits, 1 workspace" "http://127.0.0.1:$TG2/v1/chat/completions" "$dir/post-limited.lua"
measure "2 workers, limits, 32 workspaces" "http://127.0.0.1:$TG2/v1/chat/completions" "$dir/post-spread.lua"

# Forward-proxy mode: HTTPS through the proxy to "api.openai.com", TLS
# terminated by the proxy with its own CA, re-encrypted to the same
# upstream.  wrk cannot CONNECT: bench/proxy_load.mjs (undici) drives it.
load() { node bench/proxy_load.mjs "$@"; }
echo
echo "interception (HTTPS_PROXY): $SECS s per target, $CONNS keep-alive TLS connections; handshakes: 8 at a time"
printf '%-34s %10s %9s %9s %12s %8s\n' "proxy" "req/s" "p50 ms" "p99 ms" "handshakes/s" "errors"
row() { # label proxy_url ca
	set -- "$1" "$2" "$3" "$(load requests "$2" "$3" https://api.openai.com/v1/chat/completions "$SECS" "$CONNS")" \
		"$(load handshakes "$2" "$3" api.openai.com:443 "$SECS" 8)"
	printf '%-34s %10s %9s %9s %12s %8s\n' "$1" "$(echo "$4" | cut -d' ' -f1)" "$(echo "$4" | cut -d' ' -f2)" \
		"$(echo "$4" | cut -d' ' -f3)" "$(echo "$5" | cut -d' ' -f1)" \
		"$(($(echo "$4" | cut -d' ' -f4) + $(echo "$5" | cut -d' ' -f2)))"
}
row "tollgate (intercepting)" "http://127.0.0.1:$TG" "$dir/tg/ca.crt"
if command -v mitmdump >/dev/null; then
	MP=$(freeport)
	mitmdump -q --listen-host 127.0.0.1 --listen-port "$MP" --set confdir="$dir/mitm" \
		--set ssl_verify_upstream_trusted_ca="$dir/ca.pem" --set connection_strategy=lazy \
		--map-remote "|//api.openai.com|//localhost:$UP" >"$dir/mitm.log" 2>&1 & pids="$pids $!"
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -f "$dir/mitm/mitmproxy-ca-cert.pem" ] && break; sleep 0.5; done
	sleep 1
	row "mitmproxy $(mitmdump --version 2>/dev/null | head -1 | awk '{print $2}')" "http://127.0.0.1:$MP" \
		"$dir/mitm/mitmproxy-ca-cert.pem"
else
	echo "mitmproxy: not installed (apt-get install mitmproxy), not measured"
fi
