// 18_speech — POST /v1/audio/speech metered by the characters of its input
// (issue 5; openai-wire.md §4.3).
//
// Proves: tts-1 and tts-1-hd rows carry units = the characters (code
// points) of `input`, unit_kind "characters" and the per-character price
// ($15 / $30 per 1M), counted exactly as the fake upstream counts them;
// the binary audio reaches the client byte for byte through the official
// openai SDK; an upstream error costs nothing; gpt-4o-mini-tts is priced
// by the tokens of speech.audio.done with stream_format "sse", and
// estimated from its input (flagged) without; a budget refuses speech by
// its character price.
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

test('speech_token_priced_model_sse_and_binary', async () => {
  const env = await makeEnv();
  try {
    const sse = await speak(env, { model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'hello there',
      stream_format: 'sse' });
    eq(sse.status, 200, 'sse passes');
    assert(sse.body.includes('speech.audio.done'), 'events reached the client');
    const bin = await speak(env, { model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'hello there' });
    eq(bin.status, 200, 'binary passes');
    const rows = await env.rows(2);
    const u = env.fakeLog()[0].usage;
    // gpt-4o-mini-tts: $0.60 text in, $12 audio out per 1M
    eq([rows[0].input_tokens, rows[0].output_tokens, rows[0].cost_nanousd, rows[0].estimated],
      [u.input_tokens, u.output_tokens, u.input_tokens * 600 + u.output_tokens * 12000, 0],
      'sse: priced from speech.audio.done');
    eq([rows[1].input_tokens, rows[1].output_tokens, rows[1].estimated], [3, 0, 1],
      'binary: input estimated, flagged');
    assert(/not reported/.test(rows[1].error), 'says why: ' + rows[1].error);
    eq([rows[0].units, rows[0].unit_kind], [11, 'characters'], 'characters kept');
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
