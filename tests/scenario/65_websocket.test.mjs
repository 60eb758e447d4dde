// 65_websocket — WebSocket upgrades (Realtime) are tunnelled after the 101,
// never broken (issue 5).
//
// Proves: a GET with Upgrade: websocket reaches the upstream with its
// Sec-WebSocket-* headers and the workspace header removed; the client gets
// the upstream's 101 with the RFC 6455 accept key; bytes then cross the
// proxy untouched both ways, including 1 MiB in one go (backpressure) and
// bytes the client sent right behind its upgrade request; the session is
// recorded once with status 101 and cost 0, marked not metered; another
// upgrade (h2c) still gets 501.
import net from 'node:net';
import crypto from 'node:crypto';
import { test, makeEnv, eq, assert, rawHttp, sleep } from './lib.mjs';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='; // RFC 6455 §1.3's example
const upgrade = (extra = '') => 'GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: tollgate\r\n' +
  'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
  `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
  'Authorization: Bearer sk-test\r\nX-Tollgate-Workspace: rt\r\n\r\n' + extra;

// Reads from s until pred(buffer) holds; bounded.
function readUntil(s, pred, ms = 5000) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { s.off('data', on); reject(new Error(`timed out with ${buf.length} bytes`)); }, ms);
    const on = (d) => {
      buf = Buffer.concat([buf, d]);
      if (pred(buf)) { clearTimeout(t); s.off('data', on); resolve(buf); }
    };
    s.on('data', on);
  });
}

test('websocket_upgrade_tunnelled_both_ways', async () => {
  const env = await makeEnv();
  try {
    const s = net.connect(env.proxyPort, '127.0.0.1');
    await new Promise((r) => s.on('connect', r));
    // "early" is sent right behind the request, before any 101
    s.write(upgrade('early'));
    const got = await readUntil(s, (b) => b.includes('early'));
    const text = got.toString('latin1');
    const head = text.slice(0, text.indexOf('\r\n\r\n'));
    assert(head.startsWith('HTTP/1.1 101 '), 'switching protocols: ' + head);
    assert(/\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i.test(head), 'accept key: ' + ACCEPT);
    assert(/\r\nupgrade: websocket/i.test(head) && /\r\nconnection: upgrade/i.test(head), 'upgrade headers');
    eq(text.slice(text.indexOf('\r\n\r\n') + 4), 'early', 'early bytes crossed');
    const big = crypto.randomBytes(1 << 20);
    s.write(big);
    const echo = await readUntil(s, (b) => b.length >= big.length);
    assert(echo.equals(big), '1 MiB back byte for byte');
    s.end();
    await sleep(200);
    const log = env.fakeLog();
    eq(log.length, 1, 'one upstream request');
    eq([log[0].path, log[0].status, log[0].websocket], ['/v1/realtime?model=gpt-realtime', 101, true], 'upstream saw the upgrade');
    eq(log[0].headers['x-tollgate-workspace'], null, 'workspace header removed');
    const [row] = await env.rows(1);
    eq([row.workspace, row.status, row.cost_nanousd, row.endpoint], ['rt', 101, 0, 'other'], 'row');
    assert(/websocket/.test(row.error), 'marked not metered: ' + row.error);
    assert(/websocket tunnel closed/.test(env.logText()), 'tunnel close logged');
  } finally { await env.close(); }
});

test('websocket_other_upgrades_refused', async () => {
  const env = await makeEnv();
  try {
    const r = await rawHttp(env.proxyPort, 'GET /v1/models HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n' +
      'Connection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n', { want: 1 });
    eq(r.final[0].status, 501, 'h2c refused');
    eq(env.fakeLog().length, 0, 'never forwarded');
  } finally { await env.close(); }
});
