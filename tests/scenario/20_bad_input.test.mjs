// 20_bad_input — hostile or broken input has a defined outcome, and the
// proxy survives it.
//
// Proves: malformed request lines, bad header fields, obsolete line folding,
// bad chunk sizes, conflicting Content-Length / Transfer-Encoding (request
// smuggling), oversized heads (bytes and field count), oversized bodies
// (declared, chunked, and behind Expect: 100-continue), invalid JSON, an
// invalid workspace name, an unreachable upstream, an upstream that resets
// mid-stream, an upstream that goes silent, upstream error statuses, and a
// client that vanishes mid-stream each get the answer the contract names
// (status, OpenAI error shape {"error":{message,type,param,code}}, closed
// connection where the request could not be delimited), a row billed by
// account.c's rules (never forwarded or upstream non-2xx: cost 0; reached the
// upstream without usage: estimated = 1 and never free), nothing smuggled to
// the upstream — and that afterwards the same tollgate still serves a normal
// chat request exactly (status 200, row usage equal to the upstream's).
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import {
  test, makeEnv, eq, assert, sameUsage, curl, chat, certs, freePort, root, sleep,
  rawHttp, parseResponses,
} from './lib.mjs';

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] };

// --- helpers ---------------------------------------------------------------

// curl with the body written to a file: lib.mjs's curl() resolves on the
// child's 'exit', which can come before its stdout pipe is drained, so a
// body read from stdout may be cut short.  The file is complete at exit.
// The OpenAI error shape, exactly four members under "error".
function errorShape(body, what) {
  let j;
  try { j = JSON.parse(body); } catch { throw new Error(`${what}: body is not JSON: ${JSON.stringify(body)}`); }
  eq(Object.keys(j), ['error'], `${what}: top-level keys`);
  eq(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type'], `${what}: error keys`);
  assert(typeof j.error.message === 'string' && j.error.message.length > 0, `${what}: message is a sentence`);
  assert(typeof j.error.type === 'string' && j.error.type.length > 0, `${what}: type is a string`);
  return j.error;
}

// One raw exchange answered locally and then closed by tollgate.  With
// allowReset, the close may be a reset (tollgate leaves unread input behind).
async function refusedAndClosed(env, data, status, what, { allowReset = false } = {}) {
  const r = await rawHttp(env.proxyPort, data);
  const raw = JSON.stringify(r.text.slice(0, 300));
  eq(r.final.length, 1, `${what}: one response (raw: ${raw})`);
  eq(r.final[0].status, status, `${what}: status (raw: ${raw})`);
  const err = errorShape(r.final[0].body, `${what} (raw: ${raw})`);
  assert(!r.timedOut, `${what}: tollgate closed the connection after the answer (still open after 3 s)`);
  assert(r.closed || (allowReset && r.reset),
    `${what}: connection closed cleanly after the answer (closed=${r.closed} reset=${r.reset})`);
  return err;
}

// Nothing was forwarded: no row says it reached the upstream.
async function nothingForwarded(env, what) {
  await sleep(100); // the writer commits within milliseconds
  const fw = env.query('SELECT status, error FROM requests WHERE forwarded = 1');
  eq(fw, [], `${what}: rows of requests tollgate forwarded upstream`);
}

// The same tollgate still serves a normal chat request, metered exactly.
let checkSeq = 0;
async function stillServes(env) {
  const user = `still-serves-${++checkSeq}`;
  const r = await chat(env, { ...CHAT, user });
  eq(r.status, 200, `a normal chat afterwards (curl: ${r.stderr}) status`);
  const j = JSON.parse(r.body);
  eq(j.object, 'chat.completion', 'a normal chat afterwards: body');
  const rows = await env.rows(1, `end_user = '${user}'`);
  eq(rows.length, 1, 'a normal chat afterwards: one row');
  const line = env.fakeLog().find((l) => l.x_request_id === rows[0].upstream_request_id);
  assert(line, 'the normal chat reached the upstream');
  sameUsage(rows[0], line, 'a normal chat afterwards: row');
  eq(rows[0].status, 200, 'a normal chat afterwards: row status');
  assert(rows[0].cost_nanousd > 0, 'a normal chat afterwards: priced');
}

async function fakeNeverSaw(env, what) {
  eq(env.fakeLog().length, 0, `${what}: requests the upstream saw`);
  await nothingForwarded(env, what);
}

// --- malformed HTTP ----------------------------------------------------------

test('bad_input_malformed_request_line_400_closed', async () => {
  const env = await makeEnv();
  try {
    const err = await refusedAndClosed(env, 'GARBAGE\r\n\r\n', 400, 'GARBAGE request line');
    eq(err.type, 'invalid_request_error', 'error type');
    await refusedAndClosed(env, 'GET /v1/models HTTP/9.9\r\nHost: x\r\n\r\n', 400, 'bad HTTP version');
    await fakeNeverSaw(env, 'malformed request lines');
    await stillServes(env);
  } finally { await env.close(); }
});

test('bad_input_space_in_header_name_400', async () => {
  const env = await makeEnv();
  try {
    const body = JSON.stringify(CHAT);
    await refusedAndClosed(env, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n' +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 400, 'space in a header name');
    await fakeNeverSaw(env, 'space in a header name');
    await stillServes(env);
  } finally { await env.close(); }
});

test('bad_input_obs_fold_400', async () => {
  const env = await makeEnv();
  try {
    const body = JSON.stringify(CHAT);
    await refusedAndClosed(env, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n' +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 400, 'obsolete line folding');
    await fakeNeverSaw(env, 'obsolete line folding');
    await stillServes(env);
  } finally { await env.close(); }
});

test('bad_input_bad_chunk_size_and_smuggling_refused', async () => {
  const env = await makeEnv();
  try {
    const body = JSON.stringify(CHAT);
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    await refusedAndClosed(env, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' +
      'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' + body + '\r\n0\r\n\r\n',
    400, 'chunk size "zz"');
    // Both framings present: whichever a proxy picked, a back end could pick
    // the other.  Refused, and nothing reaches the upstream.
    await refusedAndClosed(env, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n` + chunked,
    400, 'Content-Length with Transfer-Encoding');
    await refusedAndClosed(env, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nContent-Length: ${body.length + 5}\r\n\r\n` + body,
    400, 'two different Content-Lengths');
    await fakeNeverSaw(env, 'smuggling attempts');
    await stillServes(env);
  } finally { await env.close(); }
});

test('bad_input_oversized_head_431', async () => {
  const env = await makeEnv();
  try {
    const big = 'GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'a'.repeat(70 * 1024) + '\r\n\r\n';
    // tollgate stops reading at the limit, so the close may come as a reset.
    let err = await refusedAndClosed(env, big, 431, 'head over 64 KiB', { allowReset: true });
    assert(err.message.length > 0, 'message');
    let many = 'GET /v1/models HTTP/1.1\r\nHost: x\r\n';
    for (let i = 0; i < 140; i++) many += `X-Field-${i}: ${i}\r\n`;
    err = await refusedAndClosed(env, many + '\r\n', 431, 'over 128 header fields', { allowReset: true });
    await fakeNeverSaw(env, 'oversized heads');
    await stillServes(env);
  } finally { await env.close(); }
});

test('bad_input_oversized_body_413', async () => {
  const env = await makeEnv({ max_request_body: 1000 });
  try {
    // Declared too large: answered from the head alone, the body is never sent.
    const r1 = await rawHttp(env.proxyPort, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' +
      'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n', { timeout: 3000 });
    assert(!r1.timedOut, `Content-Length 5000 answered without the body being sent (got ${JSON.stringify(r1.text.slice(0, 200))})`);
    eq(r1.final.length, 1, 'one response');
    eq(r1.final[0].status, 413, 'Content-Length 5000: status');
    errorShape(r1.final[0].body, 'Content-Length 5000');
    assert(r1.closed, 'Content-Length 5000: connection closed (the unread body cannot be skipped)');

    // Chunked, growing past the limit.
    const piece = 'x'.repeat(500);
    let chunked = '';
    for (let i = 0; i < 4; i++) chunked += `${piece.length.toString(16)}\r\n${piece}\r\n`;
    await refusedAndClosed(env, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' +
      `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}0\r\n\r\n`, 413, 'chunked body of 2000 bytes');

    // curl announcing 2000 bytes with Expect: 100-continue.
    const big = JSON.stringify({ ...CHAT, messages: [{ role: 'user', content: 'y'.repeat(1950) }] });
    assert(big.length >= 2000, 'body is 2000+ bytes');
    const r3 = await chat(env, big, { Expect: '100-continue' });
    eq(r3.status, 413, `curl with Expect: 100-continue (curl: ${r3.stderr}) status`);
    errorShape(r3.body, 'curl Expect: 100-continue');
    await fakeNeverSaw(env, 'oversized bodies');
    await stillServes(env);
  } finally { await env.close(); }
});

test('bad_input_invalid_json_400_not_forwarded', async () => {
  const env = await makeEnv();
  try {
    const r = await chat(env, '{"model": "gpt-4o-mini", "messages": [ broken');
    eq(r.status, 400, 'status');
    const err = errorShape(r.body, 'invalid JSON');
    eq(err.code, 'invalid_json', 'error code');
    await fakeNeverSaw(env, 'invalid JSON');
    const rows = await env.rows(1);
    eq(rows.length, 1, 'one row');
    eq({ status: rows[0].status, cost: rows[0].cost_nanousd, forwarded: rows[0].forwarded, estimated: rows[0].estimated },
      { status: 400, cost: 0, forwarded: 0, estimated: 0 }, 'row');
    await stillServes(env);
  } finally { await env.close(); }
});

test('bad_input_invalid_workspace_name_400', async () => {
  const env = await makeEnv();
  try {
    const r = await chat(env, CHAT, { 'X-Tollgate-Workspace': 'bad name!' });
    eq(r.status, 400, 'status');
    errorShape(r.body, 'invalid workspace name');
    await fakeNeverSaw(env, 'invalid workspace name');
    await stillServes(env);
  } finally { await env.close(); }
});

// --- upstream trouble ----------------------------------------------------------

test('bad_input_upstream_unreachable_502_then_recovers', async () => {
  const deadPort = await freePort();
  const env = await makeEnv({ upstream: `https://localhost:${deadPort}`, timeouts: { upstream_connect_ms: 800 } });
  let fake2 = null;
  try {
    const r = await chat(env, CHAT);
    eq(r.status, 502, `status (curl: ${r.stderr})`);
    errorShape(r.body, 'unreachable upstream');
    const rows = await env.rows(1);
    eq(rows.length, 1, 'one row');
    eq({ status: rows[0].status, cost: rows[0].cost_nanousd, forwarded: rows[0].forwarded },
      { status: 502, cost: 0, forwarded: 0 }, 'row');
    // The upstream comes up on that port: the same tollgate now serves.
    const c = certs();
    const log2 = path.join(env.dir, 'upstream2.log');
    fake2 = spawn('node', [path.join(root, 'tests/fake/upstream.mjs'), '--port', String(deadPort),
      '--cert', c.cert, '--key', c.key, '--log', log2], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('second fake did not start')), 5000);
      fake2.stdout.on('data', (d) => { if (/listening/.test(String(d))) { clearTimeout(t); resolve(); } });
    });
    env.fake.log = log2; // env.fakeLog() reads the live upstream's log
    await stillServes(env);
  } finally {
    if (fake2) fake2.kill('SIGTERM');
    await env.close();
  }
});

test('bad_input_upstream_reset_mid_stream_estimated', async () => {
  const env = await makeEnv();
  try {
    const r = await chat(env, { ...CHAT, stream: true }, { 'x-fake-reset-after': '300' });
    eq(r.status, 200, 'the head had gone out');
    assert(r.code === 18 || !r.body.endsWith('data: [DONE]\n\n'),
      `client sees a truncated stream (curl exit ${r.code}, body ${JSON.stringify(r.body.slice(-80))})`);
    const rows = await env.rows(1);
    eq(rows.length, 1, 'one row');
    eq(rows[0].estimated, 1, 'estimated');
    assert(rows[0].cost_nanousd > 0, `never free (cost ${rows[0].cost_nanousd})`);
    assert(rows[0].error, 'error recorded');
    await stillServes(env);
  } finally { await env.close(); }
});

test('bad_input_upstream_silence_504_estimated', async () => {
  const env = await makeEnv({ timeouts: { upstream_response_ms: 800 } });
  try {
    const r = await chat(env, CHAT, { 'x-fake-hang': '1' });
    eq(r.status, 504, `status (curl: ${r.stderr})`);
    errorShape(r.body, 'upstream silence');
    const rows = await env.rows(1);
    eq(rows.length, 1, 'one row');
    eq(rows[0].status, 504, 'row status');
    eq(rows[0].estimated, 1, 'estimated: the upstream had the request and may bill it');
    assert(rows[0].cost_nanousd > 0, `never free (cost ${rows[0].cost_nanousd})`);
    assert(rows[0].error, 'error recorded');
    await stillServes(env);
  } finally { await env.close(); }
});

test('bad_input_upstream_error_status_passed_through_free', async () => {
  const env = await makeEnv();
  try {
    const body = JSON.stringify(CHAT);
    let n = 0;
    for (const code of [500, 401]) {
      const via = await chat(env, body, { 'x-fake-status': String(code) });
      const direct = await curl([`https://localhost:${env.upstreamPort}/v1/chat/completions`,
        '--cacert', certs().ca, '-H', 'content-type: application/json', '-H', `x-fake-status: ${code}`,
        '--data-binary', body]);
      eq(via.status, code, `${code}: status`);
      eq(direct.status, code, `${code}: the fake's own status`);
      eq(via.body, direct.body, `${code}: body unchanged`);
      eq(via.headers['content-type'], direct.headers['content-type'], `${code}: content type`);
      n++;
      const rows = await env.rows(n);
      const row = rows[n - 1];
      eq({ status: row.status, cost: row.cost_nanousd, estimated: row.estimated },
        { status: code, cost: 0, estimated: 0 }, `${code}: row`);
    }
    await stillServes(env);
  } finally { await env.close(); }
});

test('bad_input_client_gone_mid_stream_estimated', async () => {
  const env = await makeEnv();
  try {
    const body = JSON.stringify({ ...CHAT, stream: true });
    const first = await new Promise((resolve, reject) => {
      const req = http.request(`${env.base}/v1/chat/completions`, {
        method: 'POST', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
          'x-fake-event-delay-ms': '200' },
      }, (res) => {
        res.once('data', (d) => { req.socket.destroy(); resolve({ status: res.statusCode, data: String(d) }); });
        res.on('error', () => {});
      });
      req.on('error', () => {});
      setTimeout(() => reject(new Error('no first event within 5 s')), 5000);
      req.end(body);
    });
    eq(first.status, 200, 'stream started');
    assert(first.data.includes('data: '), 'first event arrived');
    const rows = await env.rows(1);
    eq(rows.length, 1, 'one row');
    const row = rows[0];
    const log = env.fakeLog();
    if (row.estimated === 0) {
      sameUsage(row, log[0], 'usage had arrived before the client left');
    } else {
      eq(row.estimated, 1, 'estimated');
    }
    assert(row.cost_nanousd > 0, `never free (cost ${row.cost_nanousd})`);
    assert(/client/i.test(row.error || ''), `error mentions the client: ${row.error}`);
    await stillServes(env);
  } finally { await env.close(); }
});
