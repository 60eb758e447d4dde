// bench/proxy_load.mjs — load through an HTTPS proxy (CONNECT + TLS), the
// way HTTPS_PROXY clients reach tollgate; wrk cannot speak CONNECT.
//
//   node proxy_load.mjs requests PROXY_URL CA_FILE URL SECONDS CONNECTIONS
//     keep-alive TLS connections through the proxy, POSTing a small chat
//     completion; prints "rps p50_ms p99_ms errors"
//   node proxy_load.mjs handshakes PROXY_URL CA_FILE HOST:PORT SECONDS CONNECTIONS
//     new CONNECT + TLS handshake each time, then close; prints "hps errors"
// Bounded by SECONDS; loopback only.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/package.json', import.meta.url));
const { ProxyAgent, request } = require('undici');

const [mode, proxy, caFile, target, secs, conns] = process.argv.slice(2);
const ca = fs.readFileSync(caFile);
const until = Date.now() + Number(secs) * 1000;
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 16 });

async function requests() {
  const agent = new ProxyAgent({ uri: proxy, requestTls: { ca }, connections: Number(conns) });
  const lat = [];
  let errors = 0;
  async function worker() {
    while (Date.now() < until) {
      const t0 = process.hrtime.bigint();
      try {
        const r = await request(target, { method: 'POST', dispatcher: agent, body,
          headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' } });
        await r.body.text();
        if (r.statusCode !== 200) errors++;
      } catch { errors++; }
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  await Promise.all(Array.from({ length: Number(conns) }, worker));
  await agent.close();
  lat.sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] || 0;
  console.log(`${(lat.length / Number(secs)).toFixed(0)} ${pct(0.5).toFixed(2)} ${pct(0.99).toFixed(2)} ${errors}`);
}

function handshakeOnce() {
  const u = new URL(proxy);
  const [host, port] = target.split(':');
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname);
    let buf = '';
    const fail = () => { s.destroy(); resolve(false); };
    s.on('error', fail);
    s.on('connect', () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    s.on('data', function onData(d) {
      buf += d;
      if (!buf.includes('\r\n\r\n')) return;
      s.removeListener('data', onData);
      if (!/^HTTP\/1\.[01] 200/.test(buf)) return fail();
      const t = tls.connect({ socket: s, servername: host, ca, ALPNProtocols: ['http/1.1'] }, () => {
        t.destroy();
        resolve(true);
      });
      t.on('error', fail);
      void port;
    });
  });
}

async function handshakes() {
  let ok = 0, errors = 0;
  async function worker() {
    while (Date.now() < until) { if (await handshakeOnce()) ok++; else errors++; }
  }
  await Promise.all(Array.from({ length: Number(conns) }, worker));
  console.log(`${(ok / Number(secs)).toFixed(0)} ${errors}`);
}

await (mode === 'handshakes' ? handshakes() : requests());
