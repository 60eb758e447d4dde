// The official openai package through tollgate as an HTTPS proxy: undici's
// ProxyAgent, trusting tollgate's CA.  The SDK does not read HTTPS_PROXY
// itself, so it is passed on explicitly.
//   cd examples/node && npm ci
//   HTTPS_PROXY=http://127.0.0.1:8080 TOLLGATE_CA=../../data/ca.crt OPENAI_API_KEY=sk-... node proxy_agent.mjs
// Expected output: "gpt-4o-mini-2024-07-18: <the reply>"
import fs from 'node:fs';
import OpenAI from 'openai';
import { ProxyAgent, fetch } from 'undici';

const agent = new ProxyAgent({
  uri: process.env.HTTPS_PROXY,
  requestTls: { ca: fs.readFileSync(process.env.TOLLGATE_CA) },
});
const client = new OpenAI({ fetch, fetchOptions: { dispatcher: agent } });
const r = await client.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello' }],
});
console.log(`${r.model}: ${r.choices[0].message.content}`);
await agent.close();
