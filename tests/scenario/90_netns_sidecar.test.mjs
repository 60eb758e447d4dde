// 90_netns_sidecar — the sidecar topology across network namespaces.
//
// Proves: with three namespaces this test creates (app, proxy, upstream)
// joined by two veth links and no route from app to upstream, an app
// reaches the upstream only through tollgate, both by base URL and by
// HTTPS_PROXY with tollgate's CA, and each request is a metered row.
// Skipped, saying why, where namespaces cannot be created (not root, no
// iproute2, a sandbox without CAP_NET_ADMIN).  All addresses live inside
// the namespaces; nothing leaves the machine.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, eq, assert, root, tollgateBin, certs, sleep, skip, sameUsage, sqlite } from './lib.mjs';

const tag = `tg${process.pid % 100000}`;
const NS = { app: `${tag}-app`, px: `${tag}-px`, up: `${tag}-up` };
const IP = { app: '10.201.1.1', pxA: '10.201.1.2', pxU: '10.201.2.2', up: '10.201.2.1' };

function sh(args, opts = {}) {
  return spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 20000, ...opts });
}
const inNs = (ns, args, opts) => sh(['ip', 'netns', 'exec', ns, ...args], opts);

function teardown() {
  for (const ns of Object.values(NS)) sh(['ip', 'netns', 'del', ns]);
}

function setup() {
  if (sh(['ip', 'netns', 'add', NS.app]).status !== 0) return 'cannot create network namespaces here';
  const steps = [
    ['ip', 'netns', 'add', NS.px], ['ip', 'netns', 'add', NS.up],
    ['ip', 'link', 'add', `${tag}a`, 'type', 'veth', 'peer', 'name', `${tag}b`],
    ['ip', 'link', 'add', `${tag}c`, 'type', 'veth', 'peer', 'name', `${tag}d`],
    ['ip', 'link', 'set', `${tag}a`, 'netns', NS.app], ['ip', 'link', 'set', `${tag}b`, 'netns', NS.px],
    ['ip', 'link', 'set', `${tag}c`, 'netns', NS.px], ['ip', 'link', 'set', `${tag}d`, 'netns', NS.up],
  ];
  for (const s of steps) if (sh(s).status !== 0) return `cannot set up veth links (${s.join(' ')})`;
  const addr = [[NS.app, `${tag}a`, IP.app], [NS.px, `${tag}b`, IP.pxA], [NS.px, `${tag}c`, IP.pxU],
    [NS.up, `${tag}d`, IP.up]];
  for (const [ns, dev, ip] of addr) {
    inNs(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', dev]);
    inNs(ns, ['ip', 'link', 'set', dev, 'up']);
    inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
  }
  return null;
}

// A leaf for the upstream's namespace address, signed by the test CA.
function upstreamLeaf(dir) {
  const c = certs();
  const run = (args) => spawnSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=upstream',
    '-keyout', 'up.key', '-out', 'up.csr']);
  fs.writeFileSync(path.join(dir, 'up.ext'), `subjectAltName=IP:${IP.up}\nextendedKeyUsage=serverAuth\n`);
  run(['x509', '-req', '-in', 'up.csr', '-CA', c.ca, '-CAkey', path.join(c.dir, 'ca.key'),
    '-CAcreateserial', '-days', '1', '-extfile', 'up.ext', '-out', 'up.pem']);
  return { cert: path.join(dir, 'up.pem'), key: path.join(dir, 'up.key') };
}

test('netns_sidecar_topology', async () => {
  teardown();
  const why = setup();
  if (why) { teardown(); skip(why); }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-netns-'));
  const procs = [];
  try {
    const leaf = upstreamLeaf(dir);
    const fake = spawn('ip', ['netns', 'exec', NS.up, 'node', path.join(root, 'tests/fake/upstream.mjs'),
      '--netns', '--host', IP.up, '--port', '8443', '--cert', leaf.cert, '--key', leaf.key,
      '--log', path.join(dir, 'upstream.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(fake);
    await new Promise((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error('fake upstream did not start in its namespace')), 10000);
      fake.stdout.on('data', (d) => { out += d; if (/listening \d+/.test(out)) { clearTimeout(t); resolve(); } });
      fake.on('exit', (code) => { clearTimeout(t); reject(new Error(`fake upstream exited ${code}`)); });
    });
    const cfg = { listen: `${IP.pxA}:8080`, admin_listen: '127.0.0.1:9090', upstream: `https://${IP.up}:8443`,
      upstream_ca_file: certs().ca, data_dir: dir, workers: 1, tunnel_hosts: [] };
    fs.writeFileSync(path.join(dir, 'tollgate.json'), JSON.stringify(cfg));
    const tg = spawn('ip', ['netns', 'exec', NS.px, tollgateBin, 'run', '-c', path.join(dir, 'tollgate.json')],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let tglog = '';
    tg.stderr.on('data', (d) => { tglog += d; });
    procs.push(tg);
    for (let i = 0; i < 100; i++) {
      if (inNs(NS.px, ['curl', '-fsS', 'http://127.0.0.1:9090/healthz']).status === 0) break;
      await sleep(50);
    }
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'across namespaces' }] });
    const base = inNs(NS.app, ['curl', '-sS', `http://${IP.pxA}:8080/v1/chat/completions`,
      '-H', 'content-type: application/json', '-d', body]);
    eq(JSON.parse(base.stdout || '{}').object, 'chat.completion', 'base URL from the app namespace: ' + base.stderr + tglog);
    const viaProxy = inNs(NS.app, ['curl', '-sS', '-x', `http://${IP.pxA}:8080`, '--cacert',
      path.join(dir, 'ca.crt'), 'https://api.openai.com/v1/chat/completions',
      '-H', 'content-type: application/json', '-d', body]);
    eq(JSON.parse(viaProxy.stdout || '{}').object, 'chat.completion', 'HTTPS_PROXY from the app namespace: ' + viaProxy.stderr);
    const direct = inNs(NS.app, ['curl', '-sS', '-m', '3', '--cacert', certs().ca, `https://${IP.up}:8443/v1/models`]);
    assert(direct.status !== 0, 'the app cannot reach the upstream except through tollgate');
    tg.kill('SIGTERM');
    await new Promise((r) => tg.on('exit', r));
    const rows = sqlite(path.join(dir, 'tollgate.db'), 'SELECT * FROM requests ORDER BY id');
    const log = fs.readFileSync(path.join(dir, 'upstream.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    eq(rows.length, 2, 'two rows');
    rows.forEach((r, i) => sameUsage(r, log[i], `row ${i}`));
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await sleep(200);
    teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, { timeout: 60000 });
