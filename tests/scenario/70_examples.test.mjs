// 70_examples — every example in examples/ that can run here, run as its
// header says, against tollgate and the fake upstream.
//
// Proves: examples/curl.sh (base URL and forward proxy), the Node examples
// (official openai package by base URL, and through undici's ProxyAgent)
// and the Python httpx example (HTTPS_PROXY + SSL_CERT_FILE, Debian's
// python3-httpx) print what their headers promise, and each call is one
// metered row.  examples/python/openai_base_url.py needs the openai package
// from PyPI, which this machine cannot reach; it is not run.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test, makeEnv, eq, assert, root, sameUsage } from './lib.mjs';

const EXPECT = 'gpt-4o-mini-2024-07-18: Hello from the fake upstream.';

function run(cmd, args, env, cwd = root) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 30000,
    env: { ...process.env, NO_PROXY: '', no_proxy: '', OPENAI_API_KEY: 'sk-example', ...env } });
  assert(r.status === 0, `${path.basename(args[0] || cmd)} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

test('examples_run_as_documented', async () => {
  const env = await makeEnv();
  try {
    const ca = path.join(env.dir, 'ca.crt');
    const proxy = `http://127.0.0.1:${env.proxyPort}`;
    eq(run('sh', ['examples/curl.sh'], { TOLLGATE: env.base, TOLLGATE_CA: ca }),
      'base URL: gpt-4o-mini-2024-07-18\nforward proxy: gpt-4o-mini-2024-07-18', 'curl.sh');
    const nodeDir = path.join(root, 'examples/node');
    eq(run('node', ['base_url.mjs'], { OPENAI_BASE_URL: `${env.base}/v1` }, nodeDir), EXPECT, 'base_url.mjs');
    eq(run('node', ['proxy_agent.mjs'], { HTTPS_PROXY: proxy, TOLLGATE_CA: ca }, nodeDir), EXPECT,
      'proxy_agent.mjs');
    eq(run('/usr/bin/python3', ['examples/python/httpx_proxy.py'], { HTTPS_PROXY: proxy, SSL_CERT_FILE: ca }),
      EXPECT, 'httpx_proxy.py');
    const rows = await env.rows(5);
    const log = env.fakeLog();
    eq(rows.length, 5, 'one row per call');
    rows.forEach((r, i) => sameUsage(r, log[i], `row ${i}`));
  } finally { await env.close(); }
});
