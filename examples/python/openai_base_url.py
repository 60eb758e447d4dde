#!/usr/bin/env python3
# The official openai Python package through tollgate by base URL.
#   pip install openai
#   OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=sk-... python3 openai_base_url.py
# Expected output: "gpt-4o-mini-2024-07-18: <the reply>"
# (Not run by the test suite: PyPI is not reachable where it runs.)
from openai import OpenAI

client = OpenAI()  # reads OPENAI_BASE_URL and OPENAI_API_KEY
r = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Say hello"}],
)
print(f"{r.model}: {r.choices[0].message.content}")
