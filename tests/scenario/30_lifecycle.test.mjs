// 30_lifecycle — connections, workspaces, big bodies, shutdown and the
// store, over the life of one tollgate process (and across a restart).
//
// Proves: keep-alive serves several requests on one client connection
// (tollgate logs one close line with requests=N); pipelined requests are
// answered in order on one connection; hop-by-hop headers are dropped both
// ways (Connection / Keep-Alive / fields Connection names never reach the
// upstream, the upstream's never reach the client); workspaces are
// attributed by header, by key hash and by default, the workspace header is
// not forwarded, a workspace's upstream key replaces the client's, and
// require_known_workspace refuses unknown names with 403; a 50 MB
// embeddings answer streams through with bounded peak memory (VmHWM) and
// exact usage; SIGTERM drains an in-flight stream to its end, refuses new
// connections, exits 0 and keeps the row; a drain deadline cuts a hung
// request, exits 0 and records it with an error; rows survive a restart and
// usage_daily equals the sums of forwarded requests; a full store queue
// answers 503 store_backlog with Retry-After and loses nothing it admitted;
// the admin port serves /metrics and /healthz.
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import {
  test, makeEnv, eq, assert, sameUsage, curl, chat, sleep, startTollgate, stopTollgate,
  rawHttp, parseResponses,
} from './lib.mjs';

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] };
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

// --- helpers ---------------------------------------------------------------

// curl with the body written to a file: lib.mjs's curl() resolves on the
// child's 'exit', which can come before its stdout pipe is drained, so a
// body read from stdout may be cut short.  The file is complete at exit.
function rawPost(path, body, extra = '') {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

// A request through node's http module: {status, headers, body}.
function httpRequest(url, { method = 'POST', headers = {}, body = null, agent = false, onFirstData } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: {
      ...(body !== null ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
      ...headers } }, (res) => {
      const chunks = [];
      let first = true;
      res.on('data', (d) => {
        chunks.push(d);
        if (first && onFirstData) { first = false; onFirstData(); }
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'), complete: res.complete }));
      res.on('error', (e) => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'), complete: false, error: e }));
    });
    req.on('error', reject);
    req.end(body === null ? undefined : body);
  });
}

// Resolves with tollgate's exit, or rejects after ms.
function exitWithin(env, ms) {
  return Promise.race([env.exited,
    sleep(ms).then(() => { throw new Error(`tollgate still running ${ms} ms after SIGTERM:\n${env.logText()}`); })]);
}

const closeLines = (env) => [...env.logText().matchAll(/conn (\d+): close peer=\S+ .*requests=(\d+)/g)]
  .map((m) => ({ id: Number(m[1]), requests: Number(m[2]) }));

function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  return (async () => {
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
      await sleep(20);
    }
  })();
}

// --- connections ---------------------------------------------------------------

test('lifecycle_keepalive_many_requests_one_connection', async () => {
  const env = await makeEnv();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const N = 5;
    const answers = await Promise.all(Array.from({ length: N }, (_, i) =>
      httpRequest(`${env.base}/v1/chat/completions`, { agent,
        body: JSON.stringify({ ...CHAT, user: `ka-${i}` }) })));
    answers.forEach((a, i) => eq(a.status, 200, `request ${i + 1} status`));
    agent.destroy();
    await waitFor(() => closeLines(env).length > 0, 3000, 'the close line');
    await sleep(100); // any other connection would have logged by now
    eq(closeLines(env).map((l) => l.requests), [N], 'close lines: one connection carried every request');
    const rows = await env.rows(N);
    eq(rows.length, N, 'rows stored');
    eq(rows.map((r) => r.status), Array(N).fill(200), 'row statuses');
    const log = env.fakeLog();
    eq(log.length, N, 'requests the upstream saw');
    for (const r of rows) sameUsage(r, log.find((l) => l.x_request_id === r.upstream_request_id), `row ${r.id}`);
  } finally { agent.destroy(); await env.close(); }
});

test('lifecycle_pipelined_requests_answered_in_order', async () => {
  const env = await makeEnv();
  try {
    const a = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'first' }] });
    const b = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'second one' }] });
    const r = await rawHttp(env.proxyPort,
      rawPost('/v1/chat/completions', a) + rawPost('/v1/chat/completions', b, 'Connection: close\r\n'));
    assert(!r.timedOut, `tollgate answered both and closed (raw: ${JSON.stringify(r.text.slice(0, 300))})`);
    eq(r.final.map((x) => x.status), [200, 200], 'two responses on one connection');
    eq(r.final.map((x) => JSON.parse(x.body).model), ['gpt-4o-mini-2024-07-18', 'gpt-4.1-2025-04-14'],
      'responses in request order');
    const log = env.fakeLog();
    eq(r.final.map((x) => x.all('x-request-id')[0]), log.map((l) => l.x_request_id), 'request ids in order');
    assert(r.closed, 'closed after the request that asked for it');
    const rows = await env.rows(2);
    eq(rows.map((x) => x.model), ['gpt-4o-mini-2024-07-18', 'gpt-4.1-2025-04-14'], 'rows in order');
    eq(closeLines(env).map((l) => l.requests), [2], 'one connection, two requests');
  } finally { await env.close(); }
});

test('lifecycle_hop_by_hop_headers_dropped_both_ways', async () => {
  const env = await makeEnv();
  try {
    const hop = 'Connection: keep-alive, x-drop-me\r\nx-drop-me: 1\r\nKeep-Alive: timeout=5\r\n';
    // Plain answer, then an upstream answer that is chunked and says
    // "Connection: close".
    for (const extra of ['', 'x-fake-chunked: 1\r\nx-fake-close: 1\r\n']) {
      const what = extra ? 'chunked upstream answer with Connection: close' : 'plain answer';
      const r = await rawHttp(env.proxyPort, rawPost('/v1/chat/completions', JSON.stringify(CHAT), hop + extra),
        { want: 1 });
      eq(r.final.length, 1, `${what}: one response`);
      const res = r.final[0];
      eq(res.status, 200, `${what}: status`);
      eq(res.all('keep-alive'), [], `${what}: no Keep-Alive header from the upstream`);
      const conn = res.all('connection');
      assert(conn.length <= 1 && conn.every((v) => v.toLowerCase() === 'close'),
        `${what}: Connection is tollgate's own at most (got ${JSON.stringify(conn)})`);
      const te = res.all('transfer-encoding');
      assert(te.length <= 1 && te.every((v) => v === 'chunked'),
        `${what}: one Transfer-Encoding at most, tollgate's own (got ${JSON.stringify(te)})`);
      assert(!(te.length && res.all('content-length').length), `${what}: not both framings`);
      eq(JSON.parse(res.body).object, 'chat.completion', `${what}: body`);
    }
    const log = env.fakeLog();
    eq(log.length, 2, 'requests the upstream saw');
    eq(log.map((l) => l.headers.connection), [null, null], 'Connection never forwarded');
  } finally { await env.close(); }
});

test('lifecycle_workspace_attribution', async () => {
  const config = {
    workspaces: {
      'team-a': { keys: [`sha256:${sha256('sk-team-a')}`], upstream_key_env: 'TEAM_A_KEY' },
      'team-b': {},
    },
  };
  const env = await makeEnv(config, { env: { TEAM_A_KEY: 'sk-real-upstream' } });
  try {
    const r1 = await chat(env, { ...CHAT, user: 'by-key' }, { Authorization: 'Bearer sk-team-a' });
    const r2 = await chat(env, { ...CHAT, user: 'by-header' },
      { Authorization: 'Bearer sk-other', 'X-Tollgate-Workspace': 'team-b' });
    const r3 = await chat(env, { ...CHAT, user: 'neither' }, { Authorization: 'Bearer sk-other' });
    eq([r1.status, r2.status, r3.status], [200, 200, 200], 'statuses');
    const rows = await env.rows(3);
    eq(rows.map((r) => [r.end_user, r.workspace]),
      [['by-key', 'team-a'], ['by-header', 'team-b'], ['neither', 'default']], 'workspaces');
    const log = env.fakeLog();
    eq(log.map((l) => l.headers['x-tollgate-workspace']), [null, null, null], 'workspace header not forwarded');
    eq(log[0].headers.authorization_sha256, sha256('Bearer sk-real-upstream'), 'team-a: the upstream got the workspace key');
    eq(log[1].headers.authorization_sha256, sha256('Bearer sk-other'), 'team-b: the client key passes');
    eq(log[2].headers.authorization_sha256, sha256('Bearer sk-other'), 'default: the client key passes');
    assert(!fs.readFileSync(env.db).includes('sk-real-upstream') && !env.logText().includes('sk-real-upstream') &&
      !env.logText().includes('sk-team-a'), 'keys never written to the database or the log');

    await stopTollgate(env);
    await startTollgate(env, { ...config, require_known_workspace: true }, [], { TEAM_A_KEY: 'sk-real-upstream' });
    const r4 = await chat(env, CHAT, { 'X-Tollgate-Workspace': 'nobody' });
    eq(r4.status, 403, 'unknown workspace with require_known_workspace');
    const e = JSON.parse(r4.body).error;
    eq(Object.keys(e).sort(), ['code', 'message', 'param', 'type'], '403 error shape');
    eq(env.fakeLog().length, 3, 'the 403 never reached the upstream');
    const r5 = await chat(env, CHAT, { 'X-Tollgate-Workspace': 'team-b' });
    eq(r5.status, 200, 'a known workspace still passes');
  } finally { await env.close(); }
});

// --- big bodies ------------------------------------------------------------------

test('lifecycle_50mb_embeddings_bounded_memory', async () => {
  const env = await makeEnv();
  try {
    const r = await curl([`${env.base}/v1/embeddings`, '-H', 'content-type: application/json',
      '-H', 'x-fake-embedding-count: 2800',
      '--data-binary', JSON.stringify({ model: 'text-embedding-3-small', input: 'a large batch' })],
    { timeout: 30000 });
    eq(r.status, 200, `status (curl: ${r.stderr})`);
    assert(r.bodyBytes.length > 40 * 1024 * 1024, `body is large (${r.bodyBytes.length} bytes)`);
    if (r.headers['content-length']) eq(r.bodyBytes.length, Number(r.headers['content-length']), 'full body');
    const j = JSON.parse(r.body);
    eq(j.data.length, 2800, 'embeddings received');
    eq(j.data[2799].index, 2799, 'last embedding');
    const status = fs.readFileSync(`/proc/${env.tollgate.pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]);
    const rows = await env.rows(1);
    eq(rows.length, 1, 'one row');
    sameUsage(rows[0], env.fakeLog()[0], 'row');
    eq(rows[0].status, 200, 'row status');
    // Under make check, AddressSanitizer's quarantine keeps freed memory
    // resident and shadow memory adds more, so the bound only holds for
    // the production build; the sanitized run checks the rest.
    if (process.env.TOLLGATE_SANITIZED) {
      console.log(`    (sanitized build: peak RSS ${hwm} kB not checked against the bound)`);
    } else {
      // Measured ~10 MB; holding the body whole would pass 54 MB.
      assert(hwm < 30 * 1024, `tollgate's peak RSS (VmHWM) is ${hwm} kB for a ${r.bodyBytes.length}-byte body; ` +
        'bound 30720 kB');
    }
  } finally { await env.close(); }
});

// --- shutdown ---------------------------------------------------------------------

test('lifecycle_sigterm_drains_in_flight_stream', async () => {
  const env = await makeEnv({ timeouts: { drain_ms: 10000 } });
  try {
    let signalled = null;
    const done = httpRequest(`${env.base}/v1/chat/completions`, {
      headers: { 'x-fake-event-delay-ms': '150' },
      body: JSON.stringify({ ...CHAT, stream: true, user: 'drained' }),
      onFirstData: () => { env.tollgate.kill('SIGTERM'); signalled = Date.now(); },
    });
    await waitFor(() => signalled, 5000, 'the first event');
    await sleep(200);
    const refused = await new Promise((resolve) => {
      const s = net.connect(env.proxyPort, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(null); });
      s.on('error', (e) => resolve(e.code));
    });
    eq(refused, 'ECONNREFUSED', 'a new connection during the drain');
    const res = await done;
    eq(res.status, 200, 'stream status');
    assert(res.complete && res.body.endsWith('data: [DONE]\n\n'),
      `the stream ran to its end (${JSON.stringify(res.body.slice(-60))})`);
    const exit = await exitWithin(env, 5000);
    eq(exit, { code: 0, sig: null }, 'exit');
    const rows = env.query('SELECT * FROM requests');
    eq(rows.length, 1, 'row stored before exit');
    eq({ user: rows[0].end_user, status: rows[0].status, stream: rows[0].stream, estimated: rows[0].estimated },
      { user: 'drained', status: 200, stream: 1, estimated: 0 }, 'row');
    assert(rows[0].cost_nanousd > 0, 'priced');
  } finally { await env.close(); }
});

test('lifecycle_drain_deadline_cuts_hung_request', async () => {
  const env = await makeEnv({ timeouts: { drain_ms: 300, upstream_response_ms: 20000 } });
  try {
    const hung = chat(env, { ...CHAT, user: 'hung' }, { 'x-fake-hang': '1' });
    await waitFor(() => env.fakeLog().length === 1, 5000, 'the hung request reaching the upstream');
    const t0 = Date.now();
    env.tollgate.kill('SIGTERM');
    const exit = await exitWithin(env, 2500);
    const took = Date.now() - t0;
    eq(exit, { code: 0, sig: null }, 'exit');
    assert(took < 2000, `exited within ~2 s (took ${took} ms)`);
    const res = await hung;
    assert(res.status !== 200, `the hung client did not get a success (status ${res.status}, curl ${res.code})`);
    const rows = env.query('SELECT * FROM requests');
    eq(rows.length, 1, 'row stored');
    eq(rows[0].end_user, 'hung', 'row user');
    assert(rows[0].error, 'row has an error');
    eq(rows[0].estimated, 1, 'estimated: the upstream had the request');
    assert(rows[0].cost_nanousd > 0, `never free (cost ${rows[0].cost_nanousd})`);
  } finally { await env.close(); }
});

// --- the store --------------------------------------------------------------------

test('lifecycle_restart_keeps_rows_and_daily_rollup', async () => {
  const env = await makeEnv();
  try {
    const emb = (input) => curl([`${env.base}/v1/embeddings`, '-H', 'content-type: application/json',
      '--data-binary', JSON.stringify({ model: 'text-embedding-3-small', input })]);
    eq((await chat(env, { ...CHAT, user: 'before-1' })).status, 200, 'before 1');
    eq((await chat(env, { ...CHAT, model: 'gpt-4.1', user: 'before-2' })).status, 200, 'before 2');
    eq((await emb('before the restart')).status, 200, 'before 3');
    eq((await chat(env, '{"not json')).status, 400, 'a refusal (not forwarded)');
    const before = await env.rows(4);
    eq(before.length, 4, 'rows before the restart');
    const exit = await stopTollgate(env);
    eq(exit.code, 0, 'clean stop');
    await startTollgate(env, {});
    const kept = env.query('SELECT * FROM requests ORDER BY id');
    eq(kept, before, 'rows after the restart, unchanged');
    eq((await chat(env, { ...CHAT, user: 'after-1' })).status, 200, 'after 1');
    eq((await emb('after the restart')).status, 200, 'after 2');
    const all = await env.rows(6);
    eq(all.length, 6, 'rows appended');
    assert(all[4].id > before[3].id && all[5].id > all[4].id, 'new ids follow the old');
    eq(all.slice(0, 4), before, 'old rows untouched');
    const req = env.query(`SELECT strftime('%Y-%m-%d', ts_ms / 1000, 'unixepoch') AS day, workspace, model, endpoint,
        COUNT(*) AS requests, SUM(input_tokens) AS input_tokens, SUM(cached_input_tokens) AS cached_input_tokens,
        SUM(output_tokens) AS output_tokens, SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost_nanousd) AS cost_nanousd
      FROM requests WHERE forwarded = 1 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`);
    const daily = env.query(`SELECT day, workspace, model, endpoint, requests, input_tokens, cached_input_tokens,
        output_tokens, reasoning_tokens, cost_nanousd FROM usage_daily ORDER BY 1, 2, 3, 4`);
    eq(daily, req, 'usage_daily equals the sums over forwarded requests');
    eq(daily.reduce((s, d) => s + d.requests, 0), 5, 'forwarded requests in the rollup');
  } finally { await env.close(); }
});

test('lifecycle_store_queue_full_503_nothing_admitted_lost', async () => {
  const env = await makeEnv({ store_queue: 2 });
  const locker = spawn('sqlite3', [env.db], { stdio: ['pipe', 'ignore', 'ignore'] });
  let released = false;
  const release = () => { if (!released) { released = true; locker.stdin.end('COMMIT;\n'); } };
  try {
    locker.stdin.write('BEGIN EXCLUSIVE;\n');
    // Held once another writer is turned away.
    await waitFor(() => {
      try {
        execFileSync('sqlite3', ['-cmd', '.timeout 0', env.db, 'BEGIN IMMEDIATE; ROLLBACK;'], { stdio: 'pipe' });
        return false;
      } catch { return true; }
    }, 5000, 'the test taking the write lock');
    const N = 6;
    const answers = await Promise.all(Array.from({ length: N }, (_, i) =>
      chat(env, { ...CHAT, user: `q-${i}` }, { 'x-fake-delay-ms': '100' })));
    const ok = answers.filter((a) => a.status === 200);
    const busy = answers.filter((a) => a.status === 503);
    eq(ok.length + busy.length, N, `every answer is 200 or 503 (${answers.map((a) => a.status)})`);
    assert(busy.length > 0, 'some requests refused while the store is stuck');
    assert(ok.length > 0, 'some requests admitted');
    for (const b of busy) {
      eq(JSON.parse(b.body).error.code, 'store_backlog', '503 code');
      assert(Number(b.headers['retry-after']) > 0, `503 Retry-After (${b.headers['retry-after']})`);
    }
    release();
    await new Promise((r) => locker.on('exit', r));
    const rows = await env.rows(ok.length, 'status = 200');
    eq(rows.length, ok.length, 'every 200 answer has its row');
    eq(new Set(rows.map((r) => r.end_user)).size, ok.length, 'one row per admitted request');
  } finally {
    release();
    locker.kill('SIGTERM');
    await env.close();
  }
});

// --- admin --------------------------------------------------------------------------

test('lifecycle_admin_metrics_and_healthz', async () => {
  const env = await makeEnv();
  try {
    eq((await chat(env, CHAT)).status, 200, 'a request to count');
    const h = await fetch(`${env.admin}/healthz`);
    eq(h.status, 200, 'healthz status');
    eq(await h.json(), { status: 'ok' }, 'healthz body');
    const m = await fetch(`${env.admin}/metrics`);
    eq(m.status, 200, 'metrics status');
    assert(/^text\/plain/.test(m.headers.get('content-type') || ''), `metrics content type ${m.headers.get('content-type')}`);
    const text = await m.text();
    assert(/^# TYPE tollgate_requests_total counter$/m.test(text), 'tollgate_requests_total declared');
    const twoxx = /^tollgate_requests_total\{class="2xx"\} (\d+)$/m.exec(text);
    assert(twoxx && Number(twoxx[1]) >= 1, `2xx requests counted:\n${text}`);
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      assert(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? -?[0-9.e+]+$/.test(line), `Prometheus sample line: ${line}`);
    }
  } finally { await env.close(); }
});
