// 60_forward_proxy — HTTPS_PROXY mode: CONNECT to an intercepted host.
//
// Proves: curl with -x and --cacert <tollgate's CA> reaches "api.openai.com"
// through tollgate, which terminates TLS with a leaf it minted for that
// name, meters the requests inside exactly like base-URL requests (rows
// match the upstream's log) and forwards them to the configured upstream;
// the Proxy-Authorization user picks the workspace; require_proxy_auth
// answers 407; hosts in neither intercept_hosts nor tunnel_hosts get 403;
// hosts in tunnel_hosts are spliced byte for byte — the client verifies the
// far server's own certificate, so nothing was intercepted; hostile
// CONNECTs (no port, to tollgate itself, plain HTTP inside, h2-only TLS)
// are refused and the proxy keeps serving.  openssl s_client -proxy
// verifies the minted leaf against the CA for the host name.
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test, makeEnv, eq, assert, curl, rawHttp, sameUsage, certs } from './lib.mjs';

const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'via proxy' }] });
const viaProxy = (env, extra = [], proxyUser = '') => curl([
  '-x', `http://${proxyUser}127.0.0.1:${env.proxyPort}`, '--cacert', path.join(env.dir, 'ca.crt'),
  'https://api.openai.com/v1/chat/completions', '-H', 'content-type: application/json',
  '--data-binary', CHAT, ...extra]);

test('forward_proxy_intercepts_and_meters', async () => {
  const env = await makeEnv({ workspaces: { 'team-a': {} } });
  try {
    const r = await viaProxy(env);
    eq(r.code, 0, 'curl verified the minted leaf: ' + r.stderr);
    eq(r.status, 200, 'status');
    eq(JSON.parse(r.body).model, 'gpt-4o-mini-2024-07-18', 'upstream answer');
    const s = await curl(['-x', `http://127.0.0.1:${env.proxyPort}`, '--cacert', path.join(env.dir, 'ca.crt'),
      'https://api.openai.com/v1/chat/completions', '-H', 'content-type: application/json', '-N',
      '--data-binary', JSON.stringify({ ...JSON.parse(CHAT), stream: true })]);
    assert(s.body.endsWith('data: [DONE]\n\n') && !s.body.includes('"usage"'), 'stream as asked, no usage');
    const u = await viaProxy(env, [], 'team-a:secret@');
    eq(u.status, 200, 'with proxy credentials');
    const rows = await env.rows(3);
    const log = env.fakeLog();
    rows.forEach((row, i) => sameUsage(row, log[i], `row ${i}`));
    eq(rows.map((x) => x.workspace), ['default', 'default', 'team-a'], 'proxy user picks the workspace');
    eq(rows[0].endpoint, '/v1/chat/completions', 'endpoint');
  } finally { await env.close(); }
});

test('forward_proxy_leaf_verifies_with_openssl', async () => {
  const env = await makeEnv();
  try {
    const r = spawnSync('openssl', ['s_client', '-proxy', `127.0.0.1:${env.proxyPort}`,
      '-connect', 'api.openai.com:443', '-servername', 'api.openai.com',
      '-CAfile', path.join(env.dir, 'ca.crt'), '-verify_hostname', 'api.openai.com',
      '-verify_return_error', '-alpn', 'http/1.1'], { input: '', encoding: 'utf8', timeout: 10000 });
    assert(/Verify return code: 0 \(ok\)/.test(r.stdout), 'leaf verified for the host: ' + r.stdout.slice(-400));
    const h2 = spawnSync('openssl', ['s_client', '-proxy', `127.0.0.1:${env.proxyPort}`,
      '-connect', 'api.openai.com:443', '-servername', 'api.openai.com',
      '-CAfile', path.join(env.dir, 'ca.crt'), '-alpn', 'h2'], { input: '', encoding: 'utf8', timeout: 10000 });
    // Only http/1.1 is spoken inside: the handshake is refused (the
    // client sees an alert or the close), never an h2 connection.
    assert(!/ALPN protocol: h2/.test(h2.stdout) &&
      /alert|unexpected eof|handshake failure|errno/i.test(h2.stdout + h2.stderr),
    'h2-only client refused: ' + (h2.stdout + h2.stderr).slice(-300));
    eq((await viaProxy(env)).status, 200, 'still serving');
  } finally { await env.close(); }
});

test('forward_proxy_refusals', async () => {
  const env = await makeEnv({ tunnel_hosts: ['*.allowed.example'], require_proxy_auth: false });
  try {
    const connect = (target, extra = '') => rawHttp(env.proxyPort,
      `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${extra}\r\n`, { want: 1 });
    const blocked = await connect('evil.example.com:443');
    eq(blocked.final[0].status, 403, 'host outside tunnel_hosts');
    const body = JSON.parse(blocked.final[0].body);
    assert(body.error.message.includes('evil.example.com') && body.error.message.includes('tunnel_hosts'),
      'names the host and the setting');
    eq((await connect('api.openai.com')).final[0].status, 400, 'no port');
    eq((await connect(`127.0.0.1:${env.proxyPort}`)).final[0].status, 403, 'CONNECT to itself');
    eq((await connect(`${'a'.repeat(300)}.com:443`)).final[0].status, 400, 'huge host name');
    // Plain HTTP where TLS was promised: the handshake fails, nothing else.
    const plain = await new Promise((resolve) => {
      const sock = net.connect(env.proxyPort, '127.0.0.1');
      let text = '';
      const t = setTimeout(() => { sock.destroy(); resolve({ text, closed: false }); }, 5000);
      sock.on('connect', () => sock.write('CONNECT api.openai.com:443 HTTP/1.1\r\nHost: x\r\n\r\n'));
      sock.on('data', (d) => {
        const first = text === '';
        text += d.toString('latin1');
        if (first) sock.write('GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n');
      });
      sock.on('close', () => { clearTimeout(t); resolve({ text, closed: true }); });
      sock.on('error', () => {});
    });
    assert(plain.text.startsWith('HTTP/1.1 200 Connection established'), 'tunnel opened');
    assert(plain.closed, 'then closed on the non-TLS bytes');
    eq(env.fakeLog().length, 0, 'none reached the upstream');
    eq((await viaProxy(env)).status, 200, 'still serving');
  } finally { await env.close(); }
});

test('forward_proxy_auth_required_407', async () => {
  const env = await makeEnv({ require_proxy_auth: true, workspaces: { 'team-c': {} } });
  try {
    const r = await rawHttp(env.proxyPort, 'CONNECT api.openai.com:443 HTTP/1.1\r\nHost: x\r\n\r\n', { want: 1 });
    eq(r.final[0].status, 407, 'status');
    assert(/Basic realm="tollgate"/.test(r.final[0].get('proxy-authenticate') || ''), 'Proxy-Authenticate');
    eq((await viaProxy(env, [], 'default:x@')).status, 200, 'with credentials');
    const abs = await curl(['-x', `http://127.0.0.1:${env.proxyPort}`, 'http://api.openai.com/v1/models']);
    eq(abs.status, 407, 'absolute-form needs credentials too');
    const absOk = await curl(['-x', `http://team-c:x@127.0.0.1:${env.proxyPort}`, 'http://api.openai.com/v1/models']);
    eq(absOk.status, 200, 'absolute-form with credentials');
    const rows = await env.rows();
    eq(rows[rows.length - 1].workspace, 'team-c', 'absolute-form attributed to the proxy user');
  } finally { await env.close(); }
});

test('forward_proxy_tunnels_other_hosts_byte_for_byte', async () => {
  // Only names /etc/hosts answers: a tunnel resolves its host, and tests
  // must not send DNS queries off this machine.
  const env = await makeEnv({ tunnel_hosts: ['localhost'] });
  try {
    const url = `https://localhost:${env.upstreamPort}/v1/models`;
    const via = await curl(['-x', `http://127.0.0.1:${env.proxyPort}`, '--cacert', certs().ca, url]);
    eq(via.code, 0, 'curl verified the far server with its own CA: ' + via.stderr);
    const direct = await curl(['--cacert', certs().ca, url]);
    eq(via.status, direct.status, 'status');
    eq(via.body, direct.body, 'bytes');
    const dead = await rawHttp(env.proxyPort, 'CONNECT localhost:1 HTTP/1.1\r\nHost: x\r\n\r\n', { want: 1 });
    eq(dead.final[0].status, 502, 'unreachable tunnel target');
    eq(JSON.parse(dead.final[0].body).error.code, 'tunnel_unreachable', 'error shape');
    await new Promise((r) => setTimeout(r, 100));
    eq((await env.rows()).filter((r) => r.endpoint !== 'other').length, 0, 'tunnels are not metered');
    assert(/tunnel localhost:\d+ closed \(\w+\) up=\d+ down=\d+/.test(env.logText()), 'one line per tunnel');
  } finally { await env.close(); }
});

test('forward_proxy_absolute_form_metered', async () => {
  const env = await makeEnv();
  try {
    // curl sends absolute-form for http:// URLs through a proxy.
    const r = await curl(['-x', `http://127.0.0.1:${env.proxyPort}`, 'http://api.openai.com/v1/chat/completions',
      '-H', 'content-type: application/json', '--data-binary', CHAT]);
    eq(r.status, 200, 'status');
    const rows = await env.rows(1);
    sameUsage(rows[0], env.fakeLog()[0], 'row');
    eq(env.fakeLog()[0].path, '/v1/chat/completions', 'origin-form upstream');
    const other = await curl(['-x', `http://127.0.0.1:${env.proxyPort}`, 'http://example.com/v1/models']);
    eq(other.status, 403, 'other hosts are not forwarded');
    assert(JSON.parse(other.body).error.message.includes('example.com'), 'names the host');
  } finally { await env.close(); }
});

test('forward_proxy_openai_sdk_through_undici_proxyagent', async () => {
  // The official SDK as an application would configure it for a proxy
  // (README "Configuring proxies"): undici's fetch with a ProxyAgent that
  // trusts tollgate's CA.
  const { default: OpenAI } = await import('openai');
  const { ProxyAgent, fetch: undiciFetch } = await import('undici');
  const fs = await import('node:fs');
  const env = await makeEnv({ workspaces: { 'team-b': {} } });
  try {
    const agent = new ProxyAgent({
      uri: `http://127.0.0.1:${env.proxyPort}`,
      token: `Basic ${Buffer.from('team-b:x').toString('base64')}`,
      requestTls: { ca: fs.readFileSync(path.join(env.dir, 'ca.crt')) },
    });
    const client = new OpenAI({ apiKey: 'sk-test', maxRetries: 0, fetch: undiciFetch,
      fetchOptions: { dispatcher: agent } });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'through the proxy agent' }] });
    eq(r.model, 'gpt-4o-mini-2024-07-18', 'answer');
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true,
      messages: [{ role: 'user', content: 'stream it' }] });
    let chunks = 0;
    for await (const ch of s) { chunks++; assert(!('usage' in ch), 'no usage the client did not ask for'); }
    assert(chunks > 2, 'streamed');
    await agent.close();
    const rows = await env.rows(2);
    const log = env.fakeLog();
    rows.forEach((row, i) => sameUsage(row, log[i], `row ${i}`));
    eq(rows.map((x) => x.workspace), ['team-b', 'team-b'], 'proxy user picks the workspace');
  } finally { await env.close(); }
});
