// tests/scenario/lib.mjs — the scenario harness.
//
// Each scenario gets a fresh temp directory with harness-made certificates
// (a CA and a localhost leaf signed by it), the fake OpenAI upstream
// (tests/fake/upstream.mjs) on a free loopback port, and tollgate on free
// loopback ports with a config written for it.  Helpers read rows from
// tollgate's SQLite database (sqlite3 -json) and the fake's request log,
// so tests compare what the upstream said with what tollgate stored.
// Everything talks to 127.0.0.1 only; every wait is bounded.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');
export const build = path.resolve(root, process.env.BUILD || 'build');
export const tollgateBin = path.join(build, 'tollgate');

const tests = [];
export function test(name, fn, opts = {}) { tests.push({ name, fn, opts }); }

// A test that cannot run on this machine (no network namespaces, ...).
export class Skip extends Error {}
export function skip(why) { throw new Skip(why); }

export function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}
export function eq(actual, expected, what) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

let certsCache = null;
// One CA and leaf per run (openssl is slow-ish); each env copies nothing,
// it just points at them.
export function certs() {
  if (certsCache) return certsCache;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-certs-'));
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-days', '2', '-subj', '/CN=tollgate test CA', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=localhost', '-keyout', 'leaf.key', '-out', 'leaf.csr']);
  fs.writeFileSync(path.join(dir, 'leaf.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-extfile', 'leaf.ext', '-out', 'leaf.pem']);
  certsCache = { dir, ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'leaf.pem'), key: path.join(dir, 'leaf.key') };
  return certsCache;
}

function waitLine(child, re, ms, what) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`${what} did not start within ${ms} ms: ${buf}`)), ms);
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(re);
      if (m) { clearTimeout(t); resolve(m); }
    });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`${what} exited ${code}: ${buf}`)); });
  });
}

export async function startFake(dir) {
  const c = certs();
  const log = path.join(dir, 'upstream.log');
  const child = spawn('node', [path.join(root, 'tests/fake/upstream.mjs'), '--port', '0',
    '--cert', c.cert, '--key', c.key, '--log', log], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.on('data', () => {});
  const m = await waitLine(child, /listening (\d+)/, 5000, 'fake upstream');
  return { child, port: Number(m[1]), log };
}

// Starts tollgate with config (merged over the test defaults).
export async function startTollgate(env, config = {}, extraArgs = [], extraEnv = {}) {
  const cfg = {
    listen: `127.0.0.1:${env.proxyPort}`,
    admin_listen: `127.0.0.1:${env.adminPort}`,
    upstream: `https://localhost:${env.upstreamPort}`,
    upstream_ca_file: certs().ca,
    data_dir: env.dir,
    workers: 2,
    ...config,
  };
  fs.writeFileSync(env.configPath, JSON.stringify(cfg, null, 2));
  const logFd = fs.openSync(env.tollgateLog, 'a');
  const child = spawn(tollgateBin, ['run', '-c', env.configPath, ...extraArgs],
    { stdio: ['ignore', logFd, logFd], env: { ...process.env, ...extraEnv } });
  fs.closeSync(logFd);
  env.tollgate = child;
  env.exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${env.adminPort}/healthz`);
      if (r.ok) return child;
    } catch { /* not up yet */ }
    if (child.exitCode !== null) throw new Error('tollgate exited at start: ' + env.logText());
    if (Date.now() > deadline) throw new Error('tollgate did not start: ' + env.logText());
    await sleep(30);
  }
}

export async function stopTollgate(env, signal = 'SIGTERM', ms = 10000) {
  if (!env.tollgate || env.tollgate.exitCode !== null) return env.exited;
  env.tollgate.kill(signal);
  const t = setTimeout(() => env.tollgate.kill('SIGKILL'), ms);
  const r = await env.exited;
  clearTimeout(t);
  return r;
}

export async function makeEnv(config = {}, opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-scn-'));
  const env = {
    dir,
    configPath: path.join(dir, 'tollgate.json'),
    tollgateLog: path.join(dir, 'tollgate.log'),
    db: path.join(dir, 'tollgate.db'),
    proxyPort: await freePort(),
    adminPort: await freePort(),
  };
  env.logText = () => (fs.existsSync(env.tollgateLog) ? fs.readFileSync(env.tollgateLog, 'utf8') : '');
  env.fake = await startFake(dir);
  env.upstreamPort = env.fake.port;
  env.base = `http://127.0.0.1:${env.proxyPort}`;
  env.admin = `http://127.0.0.1:${env.adminPort}`;
  if (!opts.noStart) await startTollgate(env, config, opts.args || [], opts.env || {});
  // The fake's log: one JSON line per request it received.
  env.fakeLog = () => (fs.existsSync(env.fake.log)
    ? fs.readFileSync(env.fake.log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  // Rows the store committed (the writer commits within milliseconds; wait
  // until count rows are there, bounded).
  env.rows = async (count, where = '1=1') => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const rows = sqlite(env.db, `SELECT * FROM requests WHERE ${where} ORDER BY id`);
      if (count === undefined || rows.length >= count || Date.now() > deadline) return rows;
      await sleep(20);
    }
  };
  env.query = (sql) => sqlite(env.db, sql);
  // Stops both; a tollgate that did not exit 0 or that printed a
  // sanitizer report (make check) fails the test that used it.
  env.close = async () => {
    const r = await stopTollgate(env);
    env.fake.child.kill('SIGTERM');
    const log = env.logText();
    if (/Sanitizer|runtime error:/.test(log)) throw new Error('sanitizer report in tollgate log:\n' + log.slice(-3000));
    const illegal = log.split('\n').filter((l) => l.includes('illegal state change'));
    if (illegal.length) throw new Error('state machine broke its own rules:\n' + illegal.join('\n'));
    if (r && r.code !== 0 && !env.expectNonZeroExit) throw new Error(`tollgate exited ${r.code} ${r.sig || ''}: ` + log.slice(-1500));
    // Nothing left behind (KEEP_TEST_DIRS=1 keeps them for debugging).
    if (!process.env.KEEP_TEST_DIRS) fs.rmSync(dir, { recursive: true, force: true });
  };
  return env;
}

export function sqlite(db, sql) {
  if (!fs.existsSync(db)) return [];
  const out = execFileSync('sqlite3', ['-json', db, sql], { encoding: 'utf8' });
  return out.trim() ? JSON.parse(out) : [];
}

// curl, as a user would run it: returns {status, headers, body, code}.
// Headers go to a file (-D) so the body on stdout is exactly what arrived.
let curlSeq = 0;
export function curl(args, { timeout = 20000 } = {}) {
  const hfile = path.join(os.tmpdir(), `tollgate-curl-${process.pid}-${++curlSeq}.h`);
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '-D', hfile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    const t = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => { err += d; });
    // 'close', not 'exit': stdout may still hold unread bytes at exit.
    child.on('close', (code) => {
      clearTimeout(t);
      const head = fs.existsSync(hfile) ? fs.readFileSync(hfile, 'latin1') : '';
      fs.rmSync(hfile, { force: true });
      // The last head is the final response (skip 100 Continue).
      const blocks = head.split('\r\n\r\n').filter((b) => b.startsWith('HTTP/'));
      const lines = (blocks[blocks.length - 1] || '').split('\r\n');
      const status = Number((lines[0] || '').split(' ')[1]) || 0;
      const headers = {};
      for (const l of lines.slice(1)) {
        const k = l.indexOf(':');
        if (k > 0) headers[l.slice(0, k).toLowerCase()] = l.slice(k + 1).trim();
      }
      const bodyBytes = Buffer.concat(out);
      resolve({ code, status, headers, body: bodyBytes.toString('utf8'), bodyBytes, stderr: err });
    });
  });
}

// Parses as many complete HTTP/1.1 responses as buf holds (Content-Length,
// chunked, or close-delimited when closed).  Each: {status, headers:[[k,v]],
// all(name), get(name), body}.
export function parseResponses(buf, closed) {
  const out = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const lines = buf.subarray(off, end).toString('latin1').split('\r\n');
    const status = Number((lines[0] || '').split(' ')[1]) || 0;
    const headers = lines.slice(1).map((l) => {
      const k = l.indexOf(':');
      return [l.slice(0, k).toLowerCase(), l.slice(k + 1).trim()];
    });
    const all = (n) => headers.filter((h) => h[0] === n).map((h) => h[1]);
    let p = end + 4;
    let body = null;
    if (status < 200 || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if (all('transfer-encoding').some((v) => /chunked/i.test(v))) {
      const parts = [];
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (size === 0) {
          const te = buf.indexOf('\r\n', le + 2);
          if (te < 0) break;
          p = te + 2;
          body = Buffer.concat(parts);
          break;
        }
        if (buf.length < le + 2 + size + 2) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
    } else if (all('content-length').length) {
      const n = Number(all('content-length')[0]);
      if (buf.length >= p + n) { body = buf.subarray(p, p + n); p += n; }
    } else if (closed) {
      body = buf.subarray(p);
      p = buf.length;
    }
    if (body === null) break;
    out.push({ status, headers, all, get: (n) => all(n)[0], body: body.toString('utf8') });
    off = p;
  }
  return out;
}

// Raw TCP exchange that tells how it ended: closed (peer FIN), reset (RST),
// timedOut.  Resolves after `want` final responses, or at close/timeout.
export function rawHttp(port, data, { want = Infinity, timeout = 3000 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    const st = { closed: false, reset: false, timedOut: false, connectError: null };
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      const buf = Buffer.concat(chunks);
      const responses = parseResponses(buf, st.closed || st.reset);
      resolve({ ...st, text: buf.toString('latin1'), responses, final: responses.filter((r) => r.status >= 200) });
    };
    const t = setTimeout(() => { st.timedOut = true; finish(); }, timeout);
    s.on('connect', () => s.write(data));
    s.on('data', (d) => {
      chunks.push(d);
      if (want !== Infinity && parseResponses(Buffer.concat(chunks), false)
        .filter((r) => r.status >= 200).length >= want) finish();
    });
    s.on('end', () => { st.closed = true; finish(); });
    s.on('error', (e) => {
      if (e.code === 'ECONNRESET') st.reset = true; else st.connectError = e.code;
      finish();
    });
    s.on('close', finish);
  });
}


export function chat(env, body, headers = {}) {
  return curl([`${env.base}/v1/chat/completions`, '-H', 'content-type: application/json',
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    '--data-binary', typeof body === 'string' ? body : JSON.stringify(body)]);
}

// Usage in the fake's log vs a stored row, exactly.
export function sameUsage(row, logLine, what) {
  const u = logLine.usage;
  eq({ model: row.model, in: row.input_tokens, cached: row.cached_input_tokens,
    out: row.output_tokens, reasoning: row.reasoning_tokens, estimated: row.estimated },
  { model: logLine.model, in: u.input_tokens, cached: u.cached_tokens,
    out: u.output_tokens, reasoning: u.reasoning_tokens, estimated: 0 }, what);
}

export async function run(files) {
  let passed = 0, failed = 0, skipped = 0;
  const only = process.env.SCENARIO;
  for (const f of files) await import(f);
  const one = async (t) => {
    try {
      await Promise.race([t.fn(), sleep(t.opts.timeout || 60000).then(() => { throw new Error('test timed out'); })]);
      passed++;
      console.log(`ok   ${t.name}`);
    } catch (e) {
      if (e instanceof Skip) {
        skipped++;
        console.log(`skip ${t.name}: ${e.message}`);
        return;
      }
      failed++;
      console.log(`FAIL ${t.name}\n    ${String(e && e.stack || e).split('\n').slice(0, 6).join('\n    ')}`);
    }
  };
  // Tests marked {background: true} mostly wait (a rate window freeing):
  // they start first and run beside the others, each in its own env.
  const chosen = tests.filter((t) => !only || t.name.includes(only));
  const background = chosen.filter((t) => t.opts.background).map(one);
  for (const t of chosen.filter((x) => !x.opts.background)) await one(t);
  await Promise.all(background);
  if (certsCache && !process.env.KEEP_TEST_DIRS) fs.rmSync(certsCache.dir, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  return failed;
}
