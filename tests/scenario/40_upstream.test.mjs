// 40_upstream — the connection machinery.
//
// Proves: requests from separate client connections share one pooled
// keep-alive upstream connection; a new upstream connection resumes the TLS
// session of an earlier one; every SSE event is forwarded as soon as it is
// complete (the client holds the first event while the upstream is still
// streaming — checked by order of events, not by a clock); a client that
// sends half a head is answered 408 and one that stays idle is closed;
// a client that stops reading a 54 MB answer makes tollgate stop reading
// the upstream (peak RSS stays bounded) and still gets every byte.
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import { test, makeEnv, eq, assert, chat, sleep, rawHttp, sameUsage } from './lib.mjs';

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

test('upstream_pool_reused_across_client_connections', async () => {
  const env = await makeEnv({ workers: 1 });
  try {
    for (let i = 0; i < 4; i++) eq((await chat(env, CHAT)).status, 200, `request ${i}`);
    const log = env.fakeLog();
    eq(log.map((l) => l.conn), [log[0].conn, log[0].conn, log[0].conn, log[0].conn],
      'one upstream connection for four client connections');
    const m = await (await fetch(`${env.admin}/metrics`)).text();
    assert(/tollgate_upstream_reuses_total 3\b/.test(m), 'metrics count 3 reuses: ' + m.match(/reuses_total.*/));
  } finally { await env.close(); }
});

test('upstream_tls_session_resumed_on_new_connection', async () => {
  const env = await makeEnv({ workers: 1 });
  try {
    // The fake closes after each answer, so each request needs a new
    // TLS connection; all but the first can resume.
    for (let i = 0; i < 3; i++) eq((await chat(env, CHAT, { 'x-fake-close': '1' })).status, 200, 'status');
    const log = env.fakeLog();
    eq(new Set(log.map((l) => l.conn)).size, 3, 'three upstream connections');
    eq(log[0].tls_resumed, false, 'first handshake is full');
    eq(log[1].tls_resumed, true, 'second connection resumed the session');
    const rows = await env.rows(3);
    rows.forEach((r, i) => sameUsage(r, log[i], `row ${i}`));
  } finally { await env.close(); }
});

test('upstream_sse_event_forwarded_before_stream_ends', async () => {
  const env = await makeEnv();
  try {
    const body = JSON.stringify({ ...CHAT, stream: true });
    let firstEvent = null, logAtFirst = null;
    const done = new Promise((resolve, reject) => {
      const req = http.request(`${env.base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-fake-event-delay-ms': '300' },
      }, (res) => {
        let buf = '';
        res.on('data', (d) => {
          buf += d;
          if (firstEvent === null && buf.includes('\n\n')) {
            firstEvent = buf.slice(0, buf.indexOf('\n\n'));
            logAtFirst = env.fakeLog().length; // the fake logs at its end
          }
        });
        res.on('end', () => resolve(buf));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
    const all = await done;
    assert(firstEvent && firstEvent.startsWith('data: {'), 'first event arrived whole');
    eq(logAtFirst, 0, 'the upstream was still streaming when the client had the first event');
    assert(all.endsWith('data: [DONE]\n\n'), 'stream complete');
    const rows = await env.rows(1);
    sameUsage(rows[0], env.fakeLog()[0], 'row');
  } finally { await env.close(); }
});

test('client_header_timeout_408_and_idle_close', async () => {
  const env = await makeEnv({ timeouts: { client_header_ms: 300, client_idle_ms: 300 } });
  try {
    const r = await rawHttp(env.proxyPort, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n', { timeout: 5000 });
    eq(r.final.length, 1, 'one answer');
    eq(r.final[0].status, 408, 'status');
    eq(JSON.parse(r.final[0].body).error.code, 'request_timeout', 'error code');
    assert(r.closed || r.reset, 'connection closed');
    // An idle connection (no byte sent) is closed after client_idle_ms.
    const closed = await new Promise((resolve) => {
      const s = net.connect(env.proxyPort, '127.0.0.1');
      const t = setTimeout(() => { s.destroy(); resolve(false); }, 5000);
      s.on('close', () => { clearTimeout(t); resolve(true); });
      s.on('error', () => {});
    });
    assert(closed, 'idle connection closed by tollgate');
    eq((await chat(env, CHAT)).status, 200, 'still serving');
  } finally { await env.close(); }
});

test('slow_reader_backpressure_bounds_memory', async () => {
  const env = await makeEnv({ workers: 1 });
  try {
    const body = JSON.stringify({ model: 'text-embedding-3-small', input: 'x' });
    const req = `POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `x-fake-embedding-count: 2800\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const got = await new Promise((resolve) => {
      const s = net.connect(env.proxyPort, '127.0.0.1');
      let n = 0;
      s.on('connect', async () => {
        s.write(req);
        s.pause();                 // stop reading: tollgate must stop too
        await sleep(1500);
        s.resume();
      });
      s.on('data', (d) => { n += d.length; });
      s.on('close', () => resolve(n));
      s.on('error', () => resolve(n));
    });
    assert(got > 50e6, `received ${got} bytes`);
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${env.tollgate.pid}/status`, 'utf8'))[1]);
    if (process.env.TOLLGATE_SANITIZED) console.log(`    (sanitized build: peak RSS ${hwm} kB not checked)`);
    // Measured: ~10 MB with backpressure, ~60 MB with it disabled.
    else assert(hwm < 30 * 1024, `peak RSS ${hwm} kB while a client was not reading`);
    const rows = await env.rows(1);
    sameUsage(rows[0], env.fakeLog()[0], 'row');
  } finally { await env.close(); }
});
