// 10_metering — base-URL mode meters exactly.
//
// Proves: the official `openai` npm SDK (6.x) and curl, pointed at tollgate
// with a base URL, get the upstream's answers unchanged; every request
// becomes one row whose model, input, cached, output and reasoning tokens
// equal what the fake upstream put in its response (its log), and whose
// cost is those tokens times the reference prices (openai-wire.md §8),
// computed here independently in integers.  Covers chat (JSON, stream with
// and without include_usage), Responses (JSON, stream), embeddings, gzip,
// chunked and pretty-printed bodies, split SSE, and the structural trap.
import OpenAI from 'openai';
import { test, makeEnv, eq, assert, sameUsage, chat, curl } from './lib.mjs';

// nano-USD per token (USD per 1M tokens x 1000): input, cached, output.
const PRICES = {
  'gpt-4o-mini-2024-07-18': [150n, 75n, 600n],
  'gpt-5-2025-08-07': [1250n, 125n, 10000n],
  'gpt-4.1-2025-04-14': [2000n, 500n, 8000n],
  'text-embedding-3-small': [20n, 20n, 0n],
};
function expectedCost(row) {
  const [i, c, o] = PRICES[row.model];
  return Number(BigInt(row.input_tokens - row.cached_input_tokens) * i +
    BigInt(row.cached_input_tokens) * c + BigInt(row.output_tokens) * o);
}

function sdk(env, extra = {}) {
  return new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${env.base}/v1`, maxRetries: 0, ...extra });
}

async function checkAgainstLog(env, n) {
  const rows = await env.rows(n);
  const log = env.fakeLog();
  eq(rows.length, n, 'rows stored');
  eq(log.length, n, 'requests the upstream saw');
  for (let i = 0; i < n; i++) {
    sameUsage(rows[i], log[i], `row ${i + 1}`);
    eq(rows[i].upstream_request_id, log[i].x_request_id, `row ${i + 1} request id`);
    eq(rows[i].cost_nanousd, expectedCost(rows[i]), `row ${i + 1} cost`);
    eq(rows[i].status, 200, `row ${i + 1} status`);
  }
  return { rows, log };
}

test('sdk_chat_json_and_stream_rows_match_upstream', async () => {
  const env = await makeEnv();
  try {
    const client = sdk(env);
    const r1 = await client.chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }],
    }, { headers: { 'x-fake-cached': '1', 'x-fake-reasoning': '3' } });
    eq(r1.model, 'gpt-4o-mini-2024-07-18', 'response model');
    assert(r1.choices[0].message.content.length > 0, 'content');

    // Stream without include_usage: the client must not see usage at all.
    const s1 = await client.chat.completions.create({
      model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Count' }],
    });
    let chunks = 0;
    for await (const ch of s1) {
      chunks++;
      assert(!('usage' in ch), 'no usage key in chunks the client did not ask for');
      assert(ch.choices.length === 1, 'no usage-only chunk');
    }
    assert(chunks >= 3, 'stream delivered');

    // Stream with include_usage: the client sees the usage chunk.
    const s2 = await client.chat.completions.create({
      model: 'gpt-4.1', stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Count again please' }],
    });
    let usage = null;
    for await (const ch of s2) if (ch.usage) usage = ch.usage;
    assert(usage && usage.prompt_tokens > 0, 'client asked for usage and got it');

    const { rows, log } = await checkAgainstLog(env, 3);
    eq([rows[0].stream, rows[1].stream, rows[2].stream], [0, 1, 1], 'stream flags');
    eq(log[1].include_usage, true, 'usage injected upstream for the client that did not ask');
    eq(rows[0].endpoint, '/v1/chat/completions', 'endpoint');
    eq(rows[0].workspace, 'default', 'workspace');
  } finally { await env.close(); }
});

test('sdk_responses_json_stream_and_embeddings_rows_match', async () => {
  const env = await makeEnv();
  try {
    const client = sdk(env);
    const r = await client.responses.create({ model: 'gpt-5', input: 'Explain tolls' },
      { headers: { 'x-fake-cached': '2', 'x-fake-reasoning': '11' } });
    eq(r.model, 'gpt-5-2025-08-07', 'responses model');
    const st = await client.responses.create({ model: 'gpt-5', input: 'Stream it', stream: true },
      { headers: { 'x-fake-split': '5' } });
    let completed = null;
    for await (const ev of st) if (ev.type === 'response.completed') completed = ev.response;
    assert(completed && completed.usage.output_tokens > 0, 'completed event reached the client');
    const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a b c', 'd e'] });
    eq(e.data.length, 2, 'embeddings');
    const { rows } = await checkAgainstLog(env, 3);
    eq(rows[0].reasoning_tokens, 11, 'reasoning tokens');
    eq(rows[0].cached_input_tokens, 2, 'cached tokens');
    eq(rows.map((x) => x.endpoint), ['/v1/responses', '/v1/responses', '/v1/embeddings'], 'endpoints');
  } finally { await env.close(); }
});

test('curl_gzip_chunked_pretty_and_trap_rows_match', async () => {
  const env = await makeEnv();
  try {
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] };
    // gzip: the client asked for it, so it gets gzip bytes; the meter
    // reads an inflated copy.
    const gz = await curl([`${env.base}/v1/chat/completions`, '-H', 'content-type: application/json',
      '-H', 'accept-encoding: gzip', '-H', 'x-fake-pretty: 1', '--data-binary', JSON.stringify(body)]);
    eq(gz.headers['content-encoding'], 'gzip', 'client got the encoding it negotiated');
    eq(gz.bodyBytes[0], 0x1f, 'gzip magic');
    const ch = await chat(env, body, { 'x-fake-chunked': '1', 'x-fake-trap': '1' });
    assert(ch.body.includes('"usage":{"prompt_tokens":999}') || ch.body.includes('\\"usage\\"'), 'trap text delivered');
    const st = await chat(env, { ...body, stream: true }, { 'x-fake-split': '3', 'x-fake-trap': '1' });
    assert(st.body.endsWith('data: [DONE]\n\n'), 'stream complete');
    const { log } = await checkAgainstLog(env, 3);
    eq(log[0].content_encoding, 'gzip', 'upstream compressed');
    eq(log[2].headers['accept-encoding'], 'identity', 'streams ask for identity');
  } finally { await env.close(); }
});

test('stream_without_include_usage_is_byte_identical_to_upstream', async () => {
  // tollgate must send the upstream the client's body with only
  // ,"stream_options":{"include_usage":true} added, then give the client
  // the upstream's stream minus the usage-only chunk and the
  // "usage":null members.  The fake is deterministic, so the same
  // injected body sent straight to it and stripped here by hand must
  // equal what the client got through tollgate, byte for byte.
  const env = await makeEnv();
  try {
    const { certs } = await import('./lib.mjs');
    const { createHash } = await import('node:crypto');
    const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, n: 2,
      messages: [{ role: 'user', content: 'identical bytes please' }] });
    const injected = body.slice(0, -1) + ',"stream_options":{"include_usage":true}}';
    const via = await curl([`${env.base}/v1/chat/completions`, '-H', 'content-type: application/json',
      '-H', 'x-fake-split: 11', '--data-binary', body]);
    const direct = await curl([`https://localhost:${env.upstreamPort}/v1/chat/completions`,
      '--cacert', certs().ca, '-H', 'content-type: application/json', '--data-binary', injected]);
    eq(via.status, 200, 'status');
    const log = env.fakeLog();
    eq(log[0].body_sha256, createHash('sha256').update(injected).digest('hex'),
      'tollgate changed nothing in the body but include_usage');
    const events = direct.body.split('\n\n').filter((e) => e !== '');
    assert(events.some((e) => e.includes('"choices":[]')), 'upstream sent a usage chunk');
    const expected = events.filter((e) => !e.includes('"choices":[]'))
      .map((e) => e.replace(',"usage":null', '') + '\n\n').join('');
    eq(via.body, expected, 'stream bytes the client received');
    const rows = await env.rows(1);
    sameUsage(rows[0], log[0], 'row');
  } finally { await env.close(); }
});
