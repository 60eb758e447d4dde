// 25_review — regressions for what the first code review found.
//
// Proves: a workspace named in the header does not unlock that workspace's
// upstream key (only the workspace's own key does); chunked trailers are not
// read as headers (no smuggled workspace); a rewritten stream with CRLF line
// endings ends exactly at its chunked terminator, so a second request on the
// connection is read cleanly; a long request target reaches the upstream
// whole; non-canonical targets and escaped member names are refused before
// they could slip past the meter; a HEAD request does not leave its framing
// to the next reply on the connection.
import crypto from 'node:crypto';
import { test, makeEnv, eq, assert, chat, curl, rawHttp, sameUsage } from './lib.mjs';

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
const post = (path, body, extra = '') => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
  `${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

test('review_workspace_header_does_not_unlock_upstream_key', async () => {
  const env = await makeEnv({
    workspaces: { 'team-a': { keys: [`sha256:${sha256('sk-tollgate-team-a')}`], upstream_key_env: 'TEAM_A_KEY' } },
  }, { env: { TEAM_A_KEY: 'sk-real-upstream' } });
  try {
    eq((await chat(env, CHAT, { 'x-tollgate-workspace': 'team-a' })).status, 200, 'header only');
    eq((await chat(env, CHAT, { 'x-tollgate-workspace': 'team-a', authorization: 'Bearer sk-other' })).status,
      200, 'header and a foreign key');
    eq((await chat(env, CHAT, { authorization: 'Bearer sk-tollgate-team-a' })).status, 200, 'own key');
    const log = env.fakeLog();
    eq(log[0].headers.authorization_sha256, null, 'header alone: no key attached');
    eq(log[1].headers.authorization_sha256, sha256('Bearer sk-other'), 'foreign key passed through as sent');
    eq(log[2].headers.authorization_sha256, sha256('Bearer sk-real-upstream'), 'own key swapped for the real one');
  } finally { await env.close(); }
});

test('review_chunked_trailer_is_not_a_header', async () => {
  const env = await makeEnv({ workspaces: { 'team-a': {} } });
  try {
    const body = JSON.stringify(CHAT);
    const req = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
      `${body.length.toString(16)}\r\n${body}\r\n0\r\nX-Tollgate-Workspace: team-a\r\n\r\n`;
    const r = await rawHttp(env.proxyPort, req, { want: 1 });
    eq(r.final[0].status, 200, 'answered');
    const rows = await env.rows(1);
    eq(rows[0].workspace, 'default', 'the trailer did not pick the workspace');
    eq(env.fakeLog()[0].headers['x-tollgate-workspace'], null, 'nor was it forwarded');
  } finally { await env.close(); }
});

test('review_crlf_stream_ends_at_its_terminator', async () => {
  const env = await makeEnv();
  try {
    const stream = JSON.stringify({ ...CHAT, stream: true });
    const plain = JSON.stringify(CHAT);
    const r = await rawHttp(env.proxyPort,
      post('/v1/chat/completions', stream, 'x-fake-crlf: 1\r\n') +
      post('/v1/chat/completions', plain, 'Connection: close\r\n'), { want: 2 });
    eq(r.final.length, 2, 'two responses parsed cleanly');
    assert(r.final[0].body.endsWith('data: [DONE]\r\n\r\n'), 'first: the whole stream, CRLF kept');
    assert(!r.final[0].body.includes('"choices":[]'), 'usage chunk stripped');
    eq(JSON.parse(r.final[1].body).object, 'chat.completion', 'second response intact');
    const rows = await env.rows(2);
    const log = env.fakeLog();
    sameUsage(rows[0], log[0], 'stream row');
    sameUsage(rows[1], log[1], 'second row');
  } finally { await env.close(); }
});

test('review_long_target_reaches_upstream_whole', async () => {
  const env = await makeEnv();
  try {
    const target = `/v1/models?after=${'a'.repeat(900)}END`;
    const r = await curl([`${env.base}${target}`]);
    eq(r.status, 200, 'status');
    eq(env.fakeLog()[0].path, target, 'target unchanged');
  } finally { await env.close(); }
});

test('review_noncanonical_targets_and_escaped_keys_refused', async () => {
  const env = await makeEnv();
  try {
    for (const t of ['/v1//chat/completions', '/v1/chat/./completions', '/v1/chat/%63ompletions',
      '/v1/x/../chat/completions']) {
      const r = await rawHttp(env.proxyPort, post(t, JSON.stringify(CHAT), 'Connection: close\r\n'), { want: 1 });
      eq(r.final[0].status, 400, `${t} refused`);
      eq(JSON.parse(r.final[0].body).error.code, 'non_canonical_target', `${t} code`);
    }
    const abs = await rawHttp(env.proxyPort, post('http://api.openai.com//v1/chat/completions',
      JSON.stringify(CHAT), 'Connection: close\r\n'), { want: 1 });
    eq(abs.final[0].status, 400, 'absolute-form is checked the same way');
    const esc = await chat(env, '{"mod\\u0065l":"gpt-unpriced-x","messages":[]}');
    eq(esc.status, 400, 'escaped member name refused');
    eq(JSON.parse(esc.body).error.code, 'invalid_json', 'code');
    eq(env.fakeLog().length, 0, 'none of them reached the upstream');
  } finally { await env.close(); }
});

test('review_head_then_malformed_request_gets_a_whole_reply', async () => {
  const env = await makeEnv();
  try {
    const r = await rawHttp(env.proxyPort, 'HEAD /v1/models HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /v1/models HTTP/1.1\r\nBad Header: 1\r\n\r\n', { timeout: 2000 });
    // A generic parser would read Content-Length bytes after the HEAD
    // answer; check the raw bytes instead: the HEAD answer has no body and
    // the 400 that follows has all of its own.
    const second = r.text.indexOf('HTTP/1.1 400 ');
    assert(second > 0, 'a 400 follows: ' + r.text.slice(0, 200));
    assert(r.text.slice(0, second).endsWith('\r\n\r\n'), 'HEAD answer ends at its head');
    const body = r.text.slice(r.text.indexOf('\r\n\r\n', second) + 4);
    eq(JSON.parse(body).error.code, 'malformed_request', 'the 400 body arrived whole');
  } finally { await env.close(); }
});

test('review_buffered_bodies_have_a_process_wide_budget', async () => {
  const env = await makeEnv({ max_request_body: 1000000, max_buffered_bodies: 1500000,
    timeouts: { upstream_response_ms: 1500 } });
  const fs = await import('node:fs');
  const path = await import('node:path');
  try {
    const big = path.join(env.dir, 'big.json');
    fs.writeFileSync(big, JSON.stringify({ model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x'.repeat(900000) }] }));
    const send = (extra = []) => curl([`${env.base}/v1/chat/completions`, '-H', 'content-type: application/json',
      '-H', 'expect:', ...extra, '--data-binary', `@${big}`]);
    const held = send(['-H', 'x-fake-hang: 1']);          // holds ~0.9 MB until the 504
    await new Promise((r) => setTimeout(r, 400));
    const refused = await send();
    eq(refused.status, 503, 'second body over the budget');
    eq(JSON.parse(refused.body).error.code, 'memory_budget', 'code');
    eq(refused.headers['retry-after'], '1', 'Retry-After');
    eq((await held).status, 504, 'the held request ended');
    eq((await send()).status, 200, 'budget given back');
  } finally { await env.close(); }
});
