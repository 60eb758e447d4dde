// 18_speech — POST /v1/audio/speech metered by the characters of its input
// (issue 5; openai-wire.md §4.3).
//
// Proves: tts-1 and tts-1-hd rows carry units = the characters (code
// points) of `input`, unit_kind "characters" and the per-character price
// ($15 / $30 per 1M), counted exactly as the fake upstream counts them;
// the binary audio reaches the client byte for byte through the official
// openai SDK; an upstream error costs nothing; a speech model priced by
// tokens (gpt-4o-mini-tts) is recorded at cost 0 and counted as unpriced
// (not metered yet); a budget refuses speech by its character price.
import crypto from 'node:crypto';
import OpenAI from 'openai';
import { test, makeEnv, eq, assert, curl } from './lib.mjs';

const speak = (env, body, headers = []) => curl([`${env.base}/v1/audio/speech`,
  '-H', 'content-type: application/json', ...headers.flatMap((h) => ['-H', h]),
  '--data-binary', JSON.stringify(body)]);

test('speech_tts_rows_priced_per_character', async () => {
  const env = await makeEnv();
  try {
    const text = 'Héllo, wörld! 日本 😀 and some more words to say.';
    const chars = [...text].length;
    const client = new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${env.base}/v1`, maxRetries: 0 });
    const res = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: text });
    const audio = Buffer.from(await res.arrayBuffer());
    eq(audio.length, chars * 64, 'the audio arrived whole');
    const hd = await speak(env, { model: 'tts-1-hd', voice: 'nova', input: 'x'.repeat(1000), response_format: 'wav' });
    eq(hd.status, 200, 'tts-1-hd');
    eq(hd.headers['content-type'], 'audio/wav', 'content type passed through');
    eq(hd.bodyBytes.length, 1000 * 64, 'body length');
    const bad = await speak(env, { model: 'tts-1', voice: 'alloy', input: 'nope' }, ['x-fake-status: 500']);
    eq(bad.status, 500, 'upstream error passed through');
    const rows = await env.rows(3);
    const log = env.fakeLog();
    eq(log.map((l) => l.usage && l.usage.characters), [chars, 1000, null], 'the fake counted');
    // the fake's audio bytes derive from the request body's hash: the
    // client got exactly what the upstream sent
    const seed = crypto.createHash('sha256').update(`${log[0].body_sha256}:speech`).digest();
    const want = Buffer.alloc(chars * 64);
    for (let i = 0; i < want.length; i++) want[i] = seed[i % 32] ^ (i & 0xff);
    assert(audio.equals(want), 'audio byte for byte');
    eq(rows.map((r) => [r.endpoint, r.model, r.units, r.unit_kind, r.cost_nanousd, r.estimated]), [
      ['/v1/audio/speech', 'tts-1', chars, 'characters', chars * 15000, 0],
      ['/v1/audio/speech', 'tts-1-hd', 1000, 'characters', 1000 * 30000, 0],
      ['/v1/audio/speech', 'tts-1', null, null, 0, 0],
    ], 'rows: units, kind and exact cost; the error is free');
  } finally { await env.close(); }
});

test('speech_token_priced_model_recorded_unmetered', async () => {
  const env = await makeEnv();
  try {
    const r = await speak(env, { model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'hello there' });
    eq(r.status, 200, 'passes');
    const [row] = await env.rows(1);
    eq([row.units, row.unit_kind, row.cost_nanousd], [11, 'characters', 0], 'characters recorded, cost 0');
    const m = await (await fetch(`${env.admin}/metrics`)).text();
    assert(/tollgate_requests_unpriced_total 1\b/.test(m), 'counted as unpriced');
  } finally { await env.close(); }
});

test('speech_budget_refuses_by_character_price', async () => {
  // 2,500 characters of tts-1 = $0.0375; the budget allows one
  const env = await makeEnv({ workspaces: { default: { limits: { daily_usd: 0.05 } } } });
  try {
    const body = { model: 'tts-1', voice: 'alloy', input: 'y'.repeat(2500) };
    eq((await speak(env, body)).status, 200, 'first fits');
    const r = await speak(env, body);
    eq(r.status, 429, 'second would pass the budget');
    eq(r.headers['x-tollgate-limit'], 'daily_usd', 'budget');
    eq(env.fakeLog().length, 1, 'never reached the upstream');
  } finally { await env.close(); }
});
