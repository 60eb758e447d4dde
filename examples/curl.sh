#!/bin/sh
# tollgate with curl, both ways.  Needs tollgate running (make run) and,
# for the second call, its CA (data/ca.crt, created on first start).
#   TOLLGATE=http://127.0.0.1:8080 TOLLGATE_CA=data/ca.crt OPENAI_API_KEY=sk-... examples/curl.sh
# Expected output: two lines, "base URL: gpt-4o-mini-2024-07-18" and
# "forward proxy: gpt-4o-mini-2024-07-18" (the dated model that answered).
set -eu
PROXY=${TOLLGATE:-http://127.0.0.1:8080}
CA=${TOLLGATE_CA:-data/ca.crt}
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
model() { grep -o '"model": *"[^"]*"' | head -1 | sed 's/.*"\([^"]*\)"$/\1/'; }

# 1. Base URL: the app talks plain HTTP to tollgate.
printf 'base URL: '
curl -sS "$PROXY/v1/chat/completions" -H "Authorization: Bearer ${OPENAI_API_KEY:-sk-none}" \
	-H 'Content-Type: application/json' -d "$BODY" | model

# 2. Forward proxy: HTTPS to api.openai.com through tollgate, which
#    intercepts it with a certificate from its own CA.
printf 'forward proxy: '
curl -sS -x "$PROXY" --cacert "$CA" https://api.openai.com/v1/chat/completions \
	-H "Authorization: Bearer ${OPENAI_API_KEY:-sk-none}" \
	-H 'Content-Type: application/json' -d "$BODY" | model
