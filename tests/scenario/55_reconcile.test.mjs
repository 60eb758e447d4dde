// 55_reconcile — the reconciler (issue 6; DESIGN.md "Threads", admin API
// rows for reconciliation; docs/reconcile.md).
//
// Proves, against the real tollgate binary and the fake upstream's
// organization Usage and Costs APIs (tests/fake/org.mjs, several pages per
// endpoint): traffic through the proxy plus traffic the proxy never saw
// (injected into the fake) shows up as drift, with the bypass flag on the
// mapped project; `tollgate reconcile --once -c FILE` prints the drift
// table and exits 0; a second pass leaves provider_usage, provider_costs
// and reconciliation exactly as they were; the thread on a 1 s interval
// logs a flag once, posts it once to the alert webhook (also across a
// restart), counts it in /metrics; a key that is not an admin key gets a
// message saying so (never the key); no key means off, "disabled"; a 429
// from the Usage API is retried after Retry-After (the fake's own request
// times show the wait) and a 429 that never ends gives up after a bounded
// number of requests; every admin endpoint row equals sums computed with
// SQL from requests / provider_usage / provider_costs and, for the
// provider side, from the fake's own log; bad from / to / {ws} get 400s
// naming the parameter; /metrics is valid Prometheus text.
import http from 'node:http';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { test, makeEnv, startTollgate, stopTollgate, certs, curl, chat, eq, assert, sleep, tollgateBin } from './lib.mjs';

delete process.env.OPENAI_ADMIN_KEY;
const ADMIN_KEY = 'sk-admin-test-0123456789abcdef';
const MODEL = 'gpt-4o-mini-2024-07-18';
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');
const KEY_A = 'sk-team-a-client', KEY_D = 'sk-default-client';
const PER_IN = 150, PER_CACHED = 75, PER_OUT = 600; // gpt-4o-mini nano-USD per token

const CONFIG = {
  workspaces: {
    default: { limits: {} },
    'team-a': { openai_project: 'proj_a', limits: {} },
    'team-b': { limits: {} },
  },
  reconcile: { interval_s: 900, lookback_days: 3, drift_alert_pct: 2.0 },
};

// Bounded waits; generous, because a pass under the sanitizers (make
// check) takes seconds (every request builds its own TLS context).
const waitFor = async (what, fn, ms = 60000) => {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(50);
  }
};

const fakeUrl = (env, p) => `https://localhost:${env.upstreamPort}${p}`;
async function fakeConfig(env, cfg) {
  const r = await curl(['--cacert', certs().ca, '-X', 'POST', fakeUrl(env, '/v1/organization/fake/config'),
    '--data-binary', JSON.stringify(cfg)]);
  eq(r.status, 200, 'fake config accepted');
}
async function fakeOrgLog(env) {
  const r = await curl(['--cacert', certs().ca, fakeUrl(env, '/v1/organization/fake/log')]);
  return JSON.parse(r.body).requests;
}

function runOnce(env, key, args = ['--once', '-c', env.configPath]) {
  return new Promise((resolve) => {
    const extra = key === undefined ? {} : { OPENAI_ADMIN_KEY: key };
    const child = spawn(tollgateBin, ['reconcile', ...args], { env: { ...process.env, ...extra } });
    let stdout = '', stderr = '';
    const t = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

// Traffic through the proxy: 3 requests for team-a (one with cached
// tokens), 2 for default.  Returns the fake's log lines for them.
async function traffic(env) {
  const body = { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hello there' }] };
  for (let i = 0; i < 3; i++) {
    const h = { 'x-tollgate-workspace': 'team-a', authorization: `Bearer ${KEY_A}`, 'x-fake-input-tokens': '11' };
    if (i === 0) h['x-fake-cached'] = '4';
    eq((await chat(env, body, h)).status, 200, 'team-a request');
  }
  for (let i = 0; i < 2; i++) {
    eq((await chat(env, body, { authorization: `Bearer ${KEY_D}`, 'x-fake-input-tokens': '7' })).status, 200, 'default request');
  }
  await env.rows(5);
  return env.fakeLog().filter((l) => l.path === '/v1/chat/completions' && l.status === 200);
}

const BYPASS = { model: MODEL, project_id: 'proj_a', requests: 2, input_tokens: 40, cached_tokens: 0, output_tokens: 10 };

// What the fake reports, computed from its log and the injected rows:
// per project, {requests, input, cached, output, cost nano}.
function providerExpected(lines, extra = [BYPASS]) {
  const by = {};
  const add = (p, rq, u) => {
    const e = by[p] ??= { requests: 0, input: 0, cached: 0, output: 0, cost: 0 };
    e.requests += rq; e.input += u.input_tokens; e.cached += u.cached_tokens; e.output += u.output_tokens;
    e.cost += (u.input_tokens - u.cached_tokens) * PER_IN + u.cached_tokens * PER_CACHED + u.output_tokens * PER_OUT;
  };
  for (const l of lines) {
    add(l.headers.authorization_sha256 === sha(`Bearer ${KEY_A}`) ? 'proj_a' : 'proj_default', 1, l.usage);
  }
  for (const x of extra) add(x.project_id, x.requests, x);
  return by;
}

const nano = (usd) => Math.round(usd * 1e9);

// Every row of an admin answer against SQL over the tables.
function checkRowsAgainstSql(env, rows, what) {
  assert(rows.length > 0, what + ': rows');
  for (const r of rows) {
    const proj = r.project === null ? '' : r.project;
    const wsCond = proj === 'proj_a' ? "workspace = 'team-a'" : "workspace <> 'team-a'";
    const [loc] = env.query(`SELECT count(*) AS rq, coalesce(sum(input_tokens),0) AS it,
      coalesce(sum(cached_input_tokens),0) AS ct, coalesce(sum(output_tokens),0) AS ot,
      coalesce(sum(cost_nanousd),0) AS c FROM requests WHERE forwarded = 1 AND model = '${r.model}'
      AND date(ts_ms/1000,'unixepoch') = '${r.day}' AND ${wsCond}`);
    const pcond = proj === 'proj_a' ? "project_id = 'proj_a'" : "(project_id IS NULL OR project_id <> 'proj_a')";
    const [pu] = env.query(`SELECT coalesce(sum(requests),0) AS rq, coalesce(sum(input_tokens),0) AS it,
      coalesce(sum(cached_input_tokens),0) AS ct, coalesce(sum(output_tokens),0) AS ot FROM provider_usage
      WHERE model = '${r.model}' AND day = '${r.day}' AND ${pcond}`);
    const [pc] = env.query(`SELECT count(*) AS n, coalesce(sum(amount_nanousd),0) AS c FROM provider_costs
      WHERE model = '${r.model}' AND day = '${r.day}' AND ${pcond}`);
    eq([r.local.requests, r.local.input_tokens, r.local.cached_input_tokens, r.local.output_tokens, nano(r.local.cost)],
      [loc.rq, loc.it, loc.ct, loc.ot, loc.c], `${what} local ${r.day} ${r.model} ${proj}`);
    eq([r.provider.requests, r.provider.input_tokens, r.provider.cached_input_tokens, r.provider.output_tokens],
      [pu.rq, pu.it, pu.ct, pu.ot], `${what} provider ${r.day} ${r.model} ${proj}`);
    eq(pc.n > 0 ? nano(r.provider.cost) : null, pc.n > 0 ? pc.c : null, `${what} provider cost`);
    const pct = (l, p) => (l === 0 ? (p === 0 ? 0 : null) : Number(((p - l) * 100 / l).toFixed(4)));
    eq(r.drift_pct.requests, pct(loc.rq, pu.rq), `${what} drift requests`);
    eq(r.drift_pct.input_tokens, pct(loc.it, pu.it), `${what} drift input`);
    eq(r.drift_pct.output_tokens, pct(loc.ot, pu.ot), `${what} drift output`);
    if (pc.n > 0) eq(r.drift_pct.cost, pct(loc.c, pc.c), `${what} drift cost`);
  }
}

const snapshot = (env) => JSON.stringify([
  env.query('SELECT day, bucket_start, bucket_end, endpoint, model, project_id, requests, input_tokens, cached_input_tokens, output_tokens FROM provider_usage ORDER BY 1,2,3,4,5,6'),
  env.query('SELECT day, bucket_start, line_item, model, project_id, amount_nanousd FROM provider_costs ORDER BY 1,2,3,4,5'),
  env.query('SELECT day, model, project, local_requests, local_input_tokens, local_cost_nanousd, provider_requests, provider_input_tokens, provider_cost_nanousd, drift_requests_pct, flag FROM reconciliation ORDER BY 1,2,3'),
]);

test('reconcile_once_bypass_drift_table_and_idempotent', async () => {
  const env = await makeEnv(CONFIG);
  try {
    const lines = await traffic(env);
    await fakeConfig(env, { projects: { [sha(`Bearer ${KEY_A}`)]: 'proj_a' }, extra: [BYPASS], page_max: 4 });
    const r = await runOnce(env, ADMIN_KEY);
    eq(r.code, 0, 'exit 0 with drift: ' + r.stderr);
    const out = r.stdout.split('\n');
    assert(/^reconciliation \d{4}-\d\d-\d\d\.\.\d{4}-\d\d-\d\d/.test(out[0]), 'title: ' + out[0]);
    assert(/^day\s+model\s+project\s+requests/.test(out[1]), 'header: ' + out[1]);
    const rowA = out.find((l) => l.includes('proj_a'));
    assert(rowA && /\bbypass$/.test(rowA) && rowA.includes(MODEL), 'team-a row flagged: ' + r.stdout);
    const rowD = out.find((l) => l.includes(MODEL) && !l.includes('proj_a'));
    assert(rowD && /\s-$/.test(rowD), 'unmapped row agrees, no flag: ' + r.stdout);
    // aligned: every data row as long as the header up to the flag column
    eq(rowA.indexOf(MODEL), out[1].indexOf('model'), 'model column aligned');
    assert(/^2 row\(s\), 1 flagged$/.test(out[out.length - 2]), 'summary: ' + out[out.length - 2]);

    // provider rows equal the fake's log plus the injected traffic
    const exp = providerExpected(lines);
    const pu = Object.fromEntries(env.query(`SELECT project_id, sum(requests) AS rq, sum(input_tokens) AS it,
      sum(cached_input_tokens) AS ct, sum(output_tokens) AS ot FROM provider_usage GROUP BY project_id`)
      .map((x) => [x.project_id, { requests: x.rq, input: x.it, cached: x.ct, output: x.ot }]));
    for (const p of Object.keys(exp)) {
      const { cost, ...counts } = exp[p];
      eq(pu[p], counts, `provider_usage for ${p}`);
      eq(env.query(`SELECT sum(amount_nanousd) AS c FROM provider_costs WHERE project_id = '${p}'`)[0].c, cost, `costs for ${p}`);
    }
    eq(env.query("SELECT count(*) AS n FROM provider_costs WHERE line_item = 'gpt-4o-mini-2024-07-18, cached input'")[0].n, 1,
      'cached input line item kept raw');
    // the reconciliation row for proj_a: local = team-a's rows, drift and flag
    const [ra] = env.query("SELECT * FROM reconciliation WHERE project = 'proj_a'");
    const [la] = env.query("SELECT count(*) AS rq, sum(input_tokens) AS it, sum(cost_nanousd) AS c FROM requests WHERE workspace = 'team-a' AND forwarded = 1");
    eq([ra.local_requests, ra.local_input_tokens, ra.local_cost_nanousd], [la.rq, la.it, la.c], 'local side of proj_a');
    eq([ra.provider_requests, ra.provider_cost_nanousd], [exp.proj_a.requests, exp.proj_a.cost], 'provider side of proj_a');
    eq(ra.drift_requests_pct, (exp.proj_a.requests - la.rq) * 100 / la.rq, 'requests drift %');
    eq(ra.flag, 'bypass', 'bypass flag');
    eq(env.query("SELECT flag FROM reconciliation WHERE project = ''")[0].flag, null, 'unmapped rows agree');

    // several pages were needed and each was asked for with its cursor
    const org = await fakeOrgLog(env);
    const comp = org.filter((x) => x.path.startsWith('/v1/organization/usage/completions'));
    assert(comp.filter((x) => x.path.includes('&page=')).length >= 2, 'completions paged: ' + comp.length);
    assert(comp.every((x) => x.path.includes('group_by=model') && x.path.includes('group_by=project_id')), 'grouped');
    assert(comp.some((x) => x.path.includes('bucket_width=1h')) && comp.some((x) => x.path.includes('bucket_width=1d')),
      '1h buckets for the trailing days, 1d before');
    for (const ep of ['embeddings', 'moderations', 'images', 'audio_speeches', 'audio_transcriptions']) {
      assert(org.some((x) => x.path.startsWith(`/v1/organization/usage/${ep}?`)), 'asked ' + ep);
    }
    assert(org.some((x) => x.path.startsWith('/v1/organization/costs?') && x.path.includes('group_by=line_item')), 'costs');

    // the second pass changes nothing
    const before = snapshot(env);
    const r2 = await runOnce(env, ADMIN_KEY);
    eq(r2.code, 0, 'second pass');
    eq(snapshot(env), before, 'a re-pull replaces its window, it does not add');
    eq(r2.stdout.split('\n').slice(1), r.stdout.split('\n').slice(1), 'same table');
  } finally {
    await env.close();
  }
}, { timeout: 180000 });

test('reconcile_thread_flags_once_alerts_metrics_and_admin_sums', async () => {
  const posts = [];
  const hook = http.createServer((req, res) => {
    let b = '';
    req.on('data', (d) => { b += d; });
    req.on('end', () => { posts.push(JSON.parse(b)); res.end('ok'); });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  const cfg = { ...CONFIG, reconcile: { ...CONFIG.reconcile, interval_s: 1 },
    alerts: { webhook_url: `http://127.0.0.1:${hook.address().port}/hook` } };
  // traffic first, without the key: the thread then sees it all at once
  const env = await makeEnv(cfg);
  try {
    const lines = await traffic(env);
    await fakeConfig(env, { projects: { [sha(`Bearer ${KEY_A}`)]: 'proj_a' }, extra: [BYPASS] });
    const off = await (await fetch(`${env.admin}/api/reconciliation`)).json();
    eq([off.status, off.rows, off.last_run], ['disabled', [], null], 'no key: disabled');
    assert(/reconcile: off: set OPENAI_ADMIN_KEY/.test(env.logText()), 'the log says how to turn it on');
    await stopTollgate(env);
    await startTollgate(env, cfg, [], { OPENAI_ADMIN_KEY: ADMIN_KEY });
    const runs = () => (env.query('SELECT runs FROM reconcile_runs')[0] || { runs: 0 }).runs;
    await waitFor('first pass', () => runs() >= 1);
    const seenRuns = runs();
    await waitFor('two more passes', () => runs() >= seenRuns + 2);
    const j = await (await fetch(`${env.admin}/api/reconciliation`)).json();
    eq(j.status, 'ok', 'status ok');
    assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(j.last_run), 'last_run: ' + j.last_run);
    checkRowsAgainstSql(env, j.rows, '/api/reconciliation');
    const flagged = j.rows.filter((r) => r.flag);
    eq(flagged.map((r) => [r.project, r.flag]), [['proj_a', 'bypass']], 'one bypass row');
    const exp = providerExpected(lines);
    eq(flagged[0].provider.requests, exp.proj_a.requests, 'provider requests from the fake log + bypass');
    eq(nano(flagged[0].provider.cost), exp.proj_a.cost, 'provider cost priced like meter/prices.json');

    // logged once, posted once, counted once, over several passes
    const flagLines = env.logText().split('\n').filter((l) => l.includes('reconcile: bypass on'));
    eq(flagLines.length, 1, 'flag logged once');
    assert(flagLines[0].includes('proj_a') && flagLines[0].includes(MODEL), flagLines[0]);
    assert(!env.logText().includes(ADMIN_KEY), 'the key is never logged');
    await waitFor('webhook post', () => posts.length >= 1);
    eq(posts.length, 1, 'one alert');
    eq([posts[0].budget, posts[0].level, posts[0].period], ['reconcile', 'bypass', flagged[0].day], 'alert fields');
    const metrics = await (await fetch(`${env.admin}/metrics`)).text();
    assert(metrics.includes('tollgate_reconcile_flags_total{flag="bypass"} 1\n'), 'flags counter');
    assert(/tollgate_reconcile_last_run_timestamp_seconds \d+\.\d+\n/.test(metrics), 'last run gauge');
    assert(metrics.includes(`tollgate_reconcile_drift_ratio{kind="requests",day="${flagged[0].day}",model="${MODEL}",project="proj_a"} ` +
      ((exp.proj_a.requests - flagged[0].local.requests) / flagged[0].local.requests).toFixed(6)), 'drift gauge');
    // valid text format: every sample belongs to a declared family
    const types = new Set(metrics.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]));
    for (const l of metrics.split('\n').filter((x) => x && !x.startsWith('#'))) {
      const name = l.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)/)[1].replace(/_(bucket|sum|count)$/, '');
      assert(types.has(name) || types.has(l.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)/)[1]), 'undeclared sample: ' + l);
      assert(/ ([-+]?[0-9.e+-]+|\+Inf|-Inf|NaN)$/.test(l), 'bad value: ' + l);
    }

    // the workspace views
    const a = await (await fetch(`${env.admin}/api/usage/real-vs-estimated/team-a`)).json();
    eq([a.project, a.status, a.rows.every((r) => r.project === 'proj_a')], ['proj_a', 'ok', true], 'team-a sees its project');
    checkRowsAgainstSql(env, a.rows, 'real-vs-estimated/team-a');
    const b = await (await fetch(`${env.admin}/api/usage/real-vs-estimated/team-b`)).json();
    assert(b.project === null && /no openai_project/.test(b.note), 'team-b: the unmapped comparison, said so');
    assert(b.rows.length > 0 && b.rows.every((r) => r.project === null), 'team-b rows');
    checkRowsAgainstSql(env, b.rows, 'real-vs-estimated/team-b');
    // from/to
    const day = flagged[0].day;
    const one = await (await fetch(`${env.admin}/api/reconciliation?from=${day}&to=${day}`)).json();
    eq(one.rows.length, j.rows.filter((r) => r.day === day).length, 'one day');
    const none = await (await fetch(`${env.admin}/api/reconciliation?from=2020-01-01&to=2020-01-31`)).json();
    eq(none.rows, [], 'a range without rows');
    for (const [q, param] of [['from=2026-02-30', 'from'], ['to=2026-13-01', 'to'], ['from=yesterday', 'from'],
      ['from=2026-11-03&to=2026-11-02', 'from']]) {
      const r = await fetch(`${env.admin}/api/reconciliation?${q}`);
      eq(r.status, 400, q);
      eq((await r.json()).error.param, param, 'names the parameter for ' + q);
    }
    const bad = await fetch(`${env.admin}/api/usage/real-vs-estimated/no%20such`);
    eq(bad.status, 400, 'bad workspace name');
    eq((await bad.json()).error.param, 'workspace', 'names the workspace');

    // across a restart the flag is not raised again
    await stopTollgate(env);
    await startTollgate(env, cfg, [], { OPENAI_ADMIN_KEY: ADMIN_KEY });
    const r0 = runs();
    await waitFor('a pass after the restart', () => runs() >= r0 + 2);
    eq(posts.length, 1, 'still one alert');
    eq(env.logText().split('\n').filter((l) => l.includes('reconcile: bypass on')).length, 1, 'still logged once');
  } finally {
    await env.close();
    hook.close();
  }
}, { timeout: 300000 });

test('reconcile_non_admin_key_explains', async () => {
  const projectKey = 'sk-proj-notanadminkey1234';
  const env = await makeEnv({ ...CONFIG, reconcile: { ...CONFIG.reconcile, interval_s: 1 } }, { env: { OPENAI_ADMIN_KEY: projectKey } });
  try {
    const once = await runOnce(env, projectKey);
    eq(once.code, 1, 'could not reconcile');
    for (const want of ['not an admin key', 'sk-admin-', 'OPENAI_ADMIN_KEY', 'organization settings', 'sha256:']) {
      assert(once.stderr.includes(want), `message has "${want}": ${once.stderr}`);
    }
    assert(!once.stderr.includes(projectKey), 'the key is not shown');
    const id = 'sha256:' + sha(projectKey).slice(0, 12);
    assert(once.stderr.includes(id), 'the key shown as its hash prefix');
    const j = await waitFor('status error', async () => {
      const x = await (await fetch(`${env.admin}/api/reconciliation`)).json();
      return x.status.startsWith('error:') ? x : null;
    });
    assert(/not an admin key/.test(j.status) && j.status.includes('401'), 'status explains: ' + j.status);
    const runs = () => env.query('SELECT runs FROM reconcile_runs')[0].runs;
    const n = runs();
    await waitFor('more passes', () => runs() >= n + 2);
    const lines = env.logText().split('\n').filter((l) => l.includes('not an admin key'));
    eq(lines.length, 1, 'logged once while it stays the same');
    assert(!env.logText().includes(projectKey), 'never the key in the log');
  } finally {
    await env.close();
  }
}, { timeout: 180000 });

test('reconcile_without_key_is_off', async () => {
  const env = await makeEnv(CONFIG);
  try {
    const r = await runOnce(env, undefined);
    eq(r.code, 1, 'exit 1 without the key');
    assert(/set OPENAI_ADMIN_KEY/.test(r.stderr), r.stderr);
    const u = await runOnce(env, ADMIN_KEY, ['-c', env.configPath]);
    eq(u.code, 2, 'usage error without --once');
    const h = await runOnce(env, undefined, ['--help']);
    eq(h.code, 0, '--help');
    assert(h.stdout.includes('tollgate reconcile --once'), 'help text');
    eq(env.query('SELECT count(*) AS n FROM reconcile_runs')[0]?.n ?? 0, 0, 'nothing ran');
  } finally {
    await env.close();
  }
}, { timeout: 180000 });

test('reconcile_429_backs_off_per_retry_after', async () => {
  const env = await makeEnv(CONFIG);
  try {
    await traffic(env);
    // baseline: how many org requests one clean pass makes
    await runOnce(env, ADMIN_KEY);
    const clean = (await fakeOrgLog(env)).length;
    await curl(['--cacert', certs().ca, '-X', 'POST', fakeUrl(env, '/v1/organization/fake/reset')]);
    await fakeConfig(env, { fail: { count: 2, status: 429, retry_after: '1' } });
    const r = await runOnce(env, ADMIN_KEY);
    eq(r.code, 0, 'succeeds after the 429s: ' + r.stderr);
    const log = await fakeOrgLog(env);
    eq(log.length, clean + 2, 'two retries, nothing more');
    eq(log.slice(0, 3).map((x) => x.status), [429, 429, 200], 'retried the same page');
    eq(new Set(log.slice(0, 3).map((x) => x.path)).size, 1, 'same URL');
    assert(log[1].t_ms - log[0].t_ms >= 950 && log[2].t_ms - log[1].t_ms >= 950,
      'waited Retry-After: ' + log.slice(0, 3).map((x) => x.t_ms).join(','));
    // a 429 that does not end: a bounded number of tries, then exit 1
    await curl(['--cacert', certs().ca, '-X', 'POST', fakeUrl(env, '/v1/organization/fake/reset')]);
    await fakeConfig(env, { fail: { count: 1000, status: 429, retry_after: '1' } });
    const g = await runOnce(env, ADMIN_KEY);
    eq(g.code, 1, 'gives up');
    assert(/429/.test(g.stderr) && /next interval/.test(g.stderr), g.stderr);
    const glog = await fakeOrgLog(env);
    eq(glog.length, 4, 'four tries, then the pass is given up');
    for (let i = 1; i < glog.length; i++) assert(glog[i].t_ms - glog[i - 1].t_ms >= 950, 'never hammers');
    // a 5xx without Retry-After is backed off too
    await curl(['--cacert', certs().ca, '-X', 'POST', fakeUrl(env, '/v1/organization/fake/reset')]);
    await fakeConfig(env, { fail: { count: 1, status: 503 } });
    const s = await runOnce(env, ADMIN_KEY);
    eq(s.code, 0, 'a 503 is retried');
    const slog = await fakeOrgLog(env);
    eq(slog.slice(0, 2).map((x) => x.status), [503, 200], 'then succeeds');
    assert(slog[1].t_ms - slog[0].t_ms >= 950, 'after the backoff');
    const st = env.query('SELECT status, failures FROM reconcile_runs')[0];
    eq(st, { status: 'ok', failures: 1 }, 'the given-up pass recorded, then ok again');
  } finally {
    await env.close();
  }
}, { timeout: 180000 });
