// The official openai package through tollgate by base URL: nothing in the
// code changes, the environment does.
//   cd examples/node && npm ci
//   OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=sk-... node base_url.mjs
// Expected output: "gpt-4o-mini-2024-07-18: <the reply>"
import OpenAI from 'openai';

const client = new OpenAI(); // reads OPENAI_BASE_URL and OPENAI_API_KEY
const r = await client.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello' }],
});
console.log(`${r.model}: ${r.choices[0].message.content}`);
