// 35_limits — per-workspace rate limits and budgets, enforced before a
// request leaves (issue 4; DESIGN.md "Limits", "What a throttled client
// receives").
//
// Proves: rpm, tpm, rpd, daily and monthly budgets each refuse exactly the
// request that would pass them, with OpenAI's 429 body and headers
// (Retry-After, x-should-retry on budgets, the workspace's own
// x-ratelimit-*, x-tollgate-limit); successful answers carry the
// workspace's x-ratelimit-* instead of the organisation's; a refused
// request never reaches the upstream (the fake's log) and is recorded with
// status 429, limit_hit and zero cost; a spent budget and a day window stay
// spent across a restart; SIGHUP raises a limit without dropping a
// connection and refuses a broken file; budget thresholds POST one alert
// each to the webhook, retried after a failure; the official openai SDK
// retries a rate-limit 429 after Retry-After and succeeds, and stops at
// once on a budget 429; 200 concurrent requests against a budget covering
// about 50 overshoot by no more than the stated bound and leave no
// reservation behind.
//
// Request shape used for exact budgets: gpt-4o-mini (150 nano-USD per input
// token, 600 per output token), 44 bytes of prompt text counting the role
// (tollgate estimates 11 input tokens; the fake is told to bill 11) and
// max_tokens 5 (the fake answers 5 words = 5 tokens): reserved = actual =
// 4650 nano-USD, 16 tokens.
import http from 'node:http';
import fs from 'node:fs';
import OpenAI from 'openai';
import { test, makeEnv, startTollgate, stopTollgate, eq, assert, chat, sleep } from './lib.mjs';

const PROMPT = 'x'.repeat(40);
const body = (extra = {}) => ({ model: 'gpt-4o-mini', max_tokens: 5,
  messages: [{ role: 'user', content: PROMPT }], ...extra });
const COST = 11 * 150 + 5 * 600; // 4650 nano-USD
const BILL = { 'x-fake-input-tokens': '11' };
const ws = (name) => ({ ...BILL, 'x-tollgate-workspace': name });
const usd = (nano) => (nano / 1e9).toFixed(9);
const errorOf = (r) => JSON.parse(r.body).error;
const waitFor = async (what, fn, ms = 5000) => {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(25);
  }
};
const workspaces = async (env) => {
  const r = await fetch(`${env.admin}/api/workspaces`);
  const j = await r.json();
  return Object.fromEntries(j.workspaces.map((w) => [w.name, w]));
};

test('limits_rpm_refuses_exactly_with_openai_shape', async () => {
  const env = await makeEnv({ workspaces: { default: { limits: {} }, 'team-a': { limits: { rpm: 3 } } } });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await chat(env, body(), ws('team-a'));
      eq(r.status, 200, `request ${i + 1}`);
      eq(r.headers['x-ratelimit-limit-requests'], '3', 'the workspace limit, not the organisation\'s');
      eq(r.headers['x-ratelimit-remaining-requests'], String(2 - i), 'remaining');
      assert(/^[0-9.hms]+$/.test(r.headers['x-ratelimit-reset-requests']), 'Go-style reset duration');
      eq(r.headers['x-ratelimit-limit-tokens'], undefined, 'organisation token headers removed');
    }
    const r = await chat(env, body(), ws('team-a'));
    eq(r.status, 429, 'the fourth within a minute');
    const e = errorOf(r);
    eq([e.type, e.code, e.param], ['requests', 'rate_limit_exceeded', null], 'OpenAI type and code');
    assert(e.message.includes('"team-a"') && e.message.includes('rpm') && e.message.includes('retry in'),
      'message names workspace, limit and when: ' + e.message);
    const ra = Number(r.headers['retry-after']);
    assert(ra >= 55 && ra <= 61, 'Retry-After is when the first request leaves the window: ' + ra);
    eq(r.headers['x-tollgate-limit'], 'rpm', 'x-tollgate-limit');
    eq(r.headers['x-should-retry'], undefined, 'a rate limit may be retried');
    eq(r.headers['x-ratelimit-remaining-requests'], '0', 'remaining 0');
    eq(r.headers['content-type'], 'application/json', 'json');
    // another workspace is not affected; default has no limits and keeps
    // the upstream's headers
    const d = await chat(env, body(), BILL);
    eq(d.status, 200, 'default workspace passes');
    eq(d.headers['x-ratelimit-limit-requests'], '10000', 'upstream headers kept without limits');
    const rows = await env.rows(5);
    eq(rows.map((x) => [x.workspace, x.status, x.limit_hit]),
      [['team-a', 200, null], ['team-a', 200, null], ['team-a', 200, null], ['team-a', 429, 'rpm'],
        ['default', 200, null]], 'rows');
    eq(rows[3].cost_nanousd, 0, 'refusal costs nothing');
    eq(env.fakeLog().length, 4, 'the refused request never reached the upstream');
    const m = await (await fetch(`${env.admin}/metrics`)).text();
    assert(/tollgate_throttled_total\{limit="rpm"\} 1\b/.test(m), 'throttle counted');
  } finally { await env.close(); }
});

test('limits_tpm_counts_tokens_and_refuses_a_request_over_the_limit', async () => {
  const env = await makeEnv({ workspaces: { default: { limits: { tpm: 64 } } } });
  try {
    // each asks 11 + 5 = 16 tokens and uses 16: 4 fit in 64, the 5th not
    for (let i = 0; i < 4; i++) eq((await chat(env, body(), BILL)).status, 200, `request ${i + 1}`);
    const r = await chat(env, body(), BILL);
    eq(r.status, 429, 'tokens used up');
    eq([errorOf(r).type, errorOf(r).code], ['tokens', 'rate_limit_exceeded'], 'type tokens');
    eq(r.headers['x-tollgate-limit'], 'tpm', 'limit');
    eq(r.headers['x-ratelimit-remaining-tokens'], '0', 'remaining tokens');
    eq(r.headers['x-ratelimit-limit-tokens'], '64', 'limit tokens');
    // max_tokens 100: 111 tokens can never fit in 64
    const big = await chat(env, body({ max_tokens: 100 }), BILL);
    eq(big.status, 429, 'too large');
    eq(big.headers['x-should-retry'], 'false', 'waiting cannot help');
    eq(big.headers['retry-after'], undefined, 'no Retry-After');
    assert(errorOf(big).message.includes('lower max_tokens'), errorOf(big).message);
    // no max_tokens: default_output_tokens (1024) is reserved
    const dflt = await chat(env, body({ max_tokens: undefined }), BILL);
    eq(dflt.status, 429, 'default output estimate counts');
    eq(env.fakeLog().length, 4, 'refusals never reached the upstream');
    const rows = await env.rows(7);
    eq(rows.map((x) => x.limit_hit), [null, null, null, null, 'tpm', 'tpm', 'tpm'], 'limit_hit');
  } finally { await env.close(); }
});

test('limits_daily_and_monthly_budgets_insufficient_quota', async () => {
  const env = await makeEnv({ workspaces: {
    default: { limits: {} },
    day: { limits: { daily_usd: Number(usd(3 * COST)) } },
    month: { limits: { monthly_usd: Number(usd(2 * COST)) } },
  } });
  try {
    for (const [name, n, limit] of [['day', 3, 'daily_usd'], ['month', 2, 'monthly_usd']]) {
      for (let i = 0; i < n; i++) eq((await chat(env, body(), ws(name))).status, 200, `${name} ${i + 1}`);
      const r = await chat(env, body(), ws(name));
      eq(r.status, 429, `${name}: budget spent`);
      const e = errorOf(r);
      eq([e.type, e.code, e.param], ['insufficient_quota', 'insufficient_quota', null], 'quota shape');
      eq(r.headers['x-should-retry'], 'false', 'SDKs must not retry');
      eq(r.headers['x-tollgate-limit'], limit, 'x-tollgate-limit');
      const now = new Date();
      const reset = limit === 'daily_usd'
        ? Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)
        : Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
      const ra = Number(r.headers['retry-after']);
      assert(Math.abs(ra - (reset - Date.now()) / 1000) < 5, `Retry-After is the period end: ${ra}`);
      assert(e.message.includes(`"${name}"`) && e.message.includes(new Date(reset).toISOString().slice(0, 19)),
        'message names the workspace and the reset: ' + e.message);
    }
    eq(env.fakeLog().length, 5, 'refusals never reached the upstream');
    const st = await workspaces(env);
    eq(st.day.spend.today_nanousd, 3 * COST, 'day spend');
    eq(st.month.spend.month_nanousd, 2 * COST, 'month spend');
    eq(st.day.alert_level, 'exhausted', 'alert level');
  } finally { await env.close(); }
});

test('limits_budget_and_day_window_survive_restart', async () => {
  const config = { workspaces: { default: { limits: {} },
    spent: { limits: { daily_usd: Number(usd(2 * COST)) } }, rpd: { limits: { rpd: 2 } } } };
  const env = await makeEnv(config);
  try {
    for (let i = 0; i < 2; i++) {
      eq((await chat(env, body(), ws('spent'))).status, 200, 'spend');
      eq((await chat(env, body(), ws('rpd'))).status, 200, 'rpd');
    }
    eq((await stopTollgate(env)).code, 0, 'clean stop');
    await startTollgate(env, config);
    const a = await chat(env, body(), ws('spent'));
    eq([a.status, a.headers['x-tollgate-limit']], [429, 'daily_usd'], 'budget still spent');
    const b = await chat(env, body(), ws('rpd'));
    eq([b.status, b.headers['x-tollgate-limit']], [429, 'rpd'], 'day window rebuilt');
    const st = await workspaces(env);
    eq(st.spent.spend.today_nanousd, 2 * COST, 'spend rebuilt exactly');
    eq(st.rpd.counters.requests_day, 2, 'requests rebuilt');
    eq(env.fakeLog().length, 4, 'upstream saw only the first four');
  } finally { await env.close(); }
});

test('limits_sighup_raises_a_limit_and_refuses_a_broken_file', async () => {
  const config = { workspaces: { default: { limits: { rpm: 1 } } } };
  const env = await makeEnv(config);
  try {
    eq((await chat(env, body(), BILL)).status, 200, 'first');
    eq((await chat(env, body(), BILL)).status, 429, 'second refused');
    const base = JSON.parse(fs.readFileSync(env.configPath, 'utf8'));
    const reloads = () => env.logText().split('\n').filter((l) => l.includes('SIGHUP')).length;
    fs.writeFileSync(env.configPath, '{"workspaces": {"default": {"limits": {"rpm": "lots"}}}}');
    env.tollgate.kill('SIGHUP');
    await waitFor('refusal', () => env.logText().includes('reload refused'));
    assert(/reload refused.*rpm/.test(env.logText()), 'message names the key');
    eq((await chat(env, body(), BILL)).status, 429, 'old limit stays after a broken file');
    base.workspaces.default.limits.rpm = 10;
    fs.writeFileSync(env.configPath, JSON.stringify(base));
    const before = reloads();
    env.tollgate.kill('SIGHUP');
    await waitFor('reload', () => reloads() > before && env.logText().includes('SIGHUP: reloaded'));
    const r = await chat(env, body(), BILL);
    eq(r.status, 200, 'the raised limit lets the next request pass');
    eq(r.headers['x-ratelimit-limit-requests'], '10', 'new limit shown');
    eq(env.tollgate.exitCode, null, 'still running');
  } finally { await env.close(); }
});

test('limits_budget_alerts_posted_once_per_threshold_with_retry', async () => {
  const posts = [];
  let calls = 0;
  const hook = http.createServer((req, res) => {
    let b = '';
    req.on('data', (d) => { b += d; });
    req.on('end', () => {
      calls++;
      if (calls === 1) { res.writeHead(500); res.end('try again'); return; }
      posts.push(JSON.parse(b));
      res.writeHead(200); res.end('ok');
    });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  const env = await makeEnv({
    alerts: { webhook_url: `http://127.0.0.1:${hook.address().port}/hook` },
    workspaces: { default: { limits: {} },
      team: { limits: { daily_usd: Number(usd(4 * COST)), warn_pct: 50, critical_pct: 75 } } },
  });
  try {
    for (let i = 0; i < 5; i++) await chat(env, body(), ws('team'));
    await waitFor('three alerts', () => posts.length >= 3, 15000);
    await sleep(300);
    eq(posts.map((p) => [p.workspace, p.budget, p.level, p.threshold_pct]),
      [['team', 'daily_usd', 'warning', 50], ['team', 'daily_usd', 'critical', 75],
        ['team', 'daily_usd', 'exhausted', 100]], 'one alert per threshold');
    eq(calls, 4, 'the first delivery failed and was retried');
    eq(posts[0].spent_nanousd, 2 * COST, 'spent at the warning');
    eq(posts[0].limit_nanousd, 4 * COST, 'limit');
    assert(typeof posts[0].text === 'string' && posts[0].text.includes('team') &&
      posts[0].text.includes('50%'), 'Slack-compatible text: ' + posts[0].text);
    const warns = env.logText().split('\n').filter((l) => l.includes('workspace team reached'));
    eq(warns.length, 3, 'logged once each');
  } finally { await env.close(); hook.close(); }
});

test('limits_sdk_stops_on_budget_429', async () => {
  const env = await makeEnv({ workspaces: { default: { limits: { daily_usd: Number(usd(COST)) } } } });
  try {
    const client = new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${env.base}/v1`, defaultHeaders: BILL }); // retries on
    await client.chat.completions.create(body());
    let err;
    try { await client.chat.completions.create(body()); } catch (e) { err = e; }
    assert(err && err.status === 429, 'the SDK surfaces the 429');
    eq(err.code, 'insufficient_quota', 'code');
    const rows = await env.rows(2);
    await sleep(1500); // a retry would arrive within the SDK's backoff
    eq((await env.rows()).length, 2, 'tollgate saw the refused call once: no retries');
    eq(rows[1].limit_hit, 'daily_usd', 'recorded');
  } finally { await env.close(); }
});

// The SDK waits Retry-After (up to 60 s) and the minute window frees after
// 60-61 s, so this test takes about a minute; it runs beside the others.
test('limits_sdk_retries_rate_limit_after_retry_after', async () => {
  const env = await makeEnv({ workspaces: { default: { limits: { rpm: 1 } } } });
  try {
    const client = new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${env.base}/v1`, defaultHeaders: BILL });
    await client.chat.completions.create(body());
    const t0 = Date.now();
    const r = await client.chat.completions.create(body());
    eq(r.object, 'chat.completion', 'the retried call succeeded');
    assert(Date.now() - t0 >= 50000, 'after waiting for the window');
    const rows = await env.rows(3);
    eq(rows.map((x) => [x.status, x.limit_hit]), [[200, null], [429, 'rpm'], [200, null]],
      'one refusal, then the retry passed');
    eq(env.fakeLog().length, 2, 'upstream saw the two that passed');
  } finally { await env.close(); }
}, { timeout: 90000, background: true });

test('limits_200_concurrent_requests_against_a_budget', async () => {
  // Each request reserves 4650 nano-USD (11 input tokens estimated) but the
  // fake bills 12 input tokens: 4800.  Underestimate r = 150/4650; the
  // README's bound says spend <= budget x (1 + r).
  const actual = 12 * 150 + 5 * 600;
  const budget = 50 * actual;
  const env = await makeEnv({ workspaces: { default: { limits: { daily_usd: Number(usd(budget)) } } } });
  try {
    const one = () => fetch(`${env.base}/v1/chat/completions`, {
      method: 'POST', body: JSON.stringify(body()),
      headers: { 'content-type': 'application/json', 'x-fake-input-tokens': '12', 'x-fake-delay-ms': '50' },
    }).then(async (r) => { await r.text(); return r.status; });
    const statuses = await Promise.all(Array.from({ length: 200 }, one));
    const ok = statuses.filter((s) => s === 200).length;
    eq(ok + statuses.filter((s) => s === 429).length, 200, 'every request answered 200 or 429');
    const rows = await env.rows(200);
    eq(rows.length, 200, 'every request recorded');
    const spend = rows.reduce((a, x) => a + x.cost_nanousd, 0);
    const bound = budget * (1 + 150 / 4650);
    assert(spend <= bound, `spend ${spend} <= ${bound}`);
    assert(ok >= 48 && ok <= 51, `about 50 admitted: ${ok}`);
    eq(env.fakeLog().length, ok, 'only admitted requests reached the upstream');
    const st = await workspaces(env);
    eq([st.default.inflight, st.default.reserved_nanousd, st.default.reserved_tokens], [0, 0, 0],
      'no reservation left behind');
    eq(st.default.spend.today_nanousd, spend, 'live spend equals the rows');
  } finally { await env.close(); }
}, { timeout: 60000 });

test('limits_sighup_keeps_a_public_admin_listener_guarded', async () => {
  const config = { admin_token: 'adm-secret', workspaces: { default: { limits: {} } } };
  const env = await makeEnv({}, { noStart: true });
  try {
    await startTollgate(env, { ...config, admin_listen: `0.0.0.0:${env.adminPort}` });
    const auth = { authorization: 'Bearer adm-secret' };
    eq((await fetch(`${env.admin}/api/workspaces`)).status, 401, 'token needed');
    // the file now says loopback and no token; the listener cannot move
    const cfg = JSON.parse(fs.readFileSync(env.configPath, 'utf8'));
    delete cfg.admin_token;
    cfg.admin_listen = `127.0.0.1:${env.adminPort}`;
    fs.writeFileSync(env.configPath, JSON.stringify(cfg));
    env.tollgate.kill('SIGHUP');
    await waitFor('refusal', () => env.logText().includes('reload refused'));
    assert(env.logText().includes('no admin_token'), 'says why');
    eq((await fetch(`${env.admin}/api/workspaces`)).status, 401, 'still guarded');
    eq((await fetch(`${env.admin}/api/workspaces`, { headers: auth })).status, 200, 'token works');
  } finally { await env.close(); }
});
