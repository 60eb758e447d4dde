#!/usr/bin/python3
# httpx (Debian's python3-httpx) through tollgate as an HTTPS proxy.  httpx
# honours HTTPS_PROXY and SSL_CERT_FILE from the environment.
#   HTTPS_PROXY=http://127.0.0.1:8080 SSL_CERT_FILE=data/ca.crt \
#   OPENAI_API_KEY=sk-... /usr/bin/python3 examples/python/httpx_proxy.py
# Expected output: "gpt-4o-mini-2024-07-18: <the reply>"
import os

import httpx

r = httpx.post(
    "https://api.openai.com/v1/chat/completions",
    headers={"Authorization": "Bearer " + os.environ.get("OPENAI_API_KEY", "sk-none")},
    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]},
    timeout=60,
)
r.raise_for_status()
body = r.json()
print(body["model"] + ": " + body["choices"][0]["message"]["content"])
