// 45_admin_api — the admin reporting API (issue 6; docs/admin-api.md).
//
// Proves: every usage endpoint (/api/usage with group_by and filters, its
// CSV, current-month, today, budget-status, model-comparison, cost-trend,
// cost-intelligence, dashboard, quota status) answers with the sums that
// straight SQL over the `requests` rows gives (forwarded rows only; a
// request refused by a limit is left out), over rows made by real requests
// through the proxy plus rows inserted with sqlite3 for earlier days
// (schema from tollgate's own migrations: start, stop, insert, start);
// money is exact to the nano-dollar; CSV quotes per RFC 4180; the cost
// intelligence finds exactly the duplicate chains, bloated prompts and
// cheaper-sibling savings worked out here from the rows and the reference
// prices, and its score is the documented formula; bad dates, ranges,
// days, group_by and workspaces get a 400 naming the parameter;
// admin_token guards every path but /healthz; /api/events streams one
// event per finished request, live, equal to the stored rows, filtered by
// workspace, and refuses clients past its bound with 503.
import http from 'node:http';
import { test, makeEnv, startTollgate, stopTollgate, eq, assert, chat, sleep } from './lib.mjs';

const DAY = 86400000;
const nano = (usd) => Math.round(usd * 1e9);
// nano-USD per token of the reference prices (input, cached, output).
const PRICE = { 'gpt-4o-mini': [150, 75, 600], 'gpt-4o': [2500, 1250, 10000] };

const WS = {
  default: { limits: {} },
  'team-a': { limits: { rpm: 100, monthly_usd: 1, warn_pct: 50, critical_pct: 90 } },
  'team-b': { limits: {} },
  'team-c': { limits: { rpm: 1 } },
};

const getJ = async (env, p, headers = {}) => {
  const r = await fetch(env.admin + p, { headers });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* CSV or text */ }
  return { status: r.status, headers: r.headers, text, json };
};

function dayOf(ms) { return new Date(ms).toISOString().slice(0, 10); }

// Rows for earlier days, as the writer would have stored them (requests
// plus the usage_daily rollup of the forwarded ones).
function insertHistory(env) {
  const now = Date.now();
  const rows = [
    [now - 1 * DAY, 'team-a', 'gpt-4o-2024-08-06', 4000, 100, 20000000, 1],
    [now - 3 * DAY, 'team-b', 'weird,"model"', 1000, 10, 123456789, 1],
    [now - 3 * DAY, 'team-b', 'gpt-4o-mini-2024-07-18', 500, 50, 105000, 1],
    [now - 2 * DAY, 'team-a', 'gpt-4o-2024-08-06', 777, 0, 0, 0],
  ];
  const values = rows.map(([ts, ws, model, inp, out, cost, fwd]) =>
    `(${ts}, 5, '${ws}', '/v1/chat/completions', '${model.replace(/'/g, "''")}', ${fwd ? 200 : 429}, 0,` +
    ` ${inp}, 0, ${out}, 0, ${cost}, 0, 'test', ${fwd}, ${fwd ? 'NULL' : "'rpm'"})`).join(',');
  env.query(`INSERT INTO requests(ts_ms, duration_ms, workspace, endpoint, model, status, stream,
    input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_nanousd, estimated,
    price_version, forwarded, limit_hit) VALUES ${values};
    INSERT INTO usage_daily SELECT date(ts_ms / 1000, 'unixepoch'), workspace, model, endpoint,
      count(*), sum(input_tokens), sum(cached_input_tokens), sum(output_tokens),
      sum(reasoning_tokens), sum(cost_nanousd) FROM requests WHERE forwarded = 1
      GROUP BY 1, 2, 3, 4;`);
}

const msg = (text) => ({ model: 'gpt-4o', messages: [{ role: 'user', content: text }] });
const knobs = (ws, inp, out) => ({ 'x-tollgate-workspace': ws, 'x-fake-input-tokens': String(inp), 'x-fake-output-tokens': String(out) });

async function liveTraffic(env) {
  for (let i = 0; i < 3; i++) eq((await chat(env, msg('same question'), knobs('team-a', 9000, 5))).status, 200, 'dup');
  eq((await chat(env, { ...msg('other'), model: 'gpt-4o-mini' }, knobs('team-a', 50, 300))).status, 200, 'mini');
  for (let i = 0; i < 2; i++) eq((await chat(env, { ...msg('b' + i), model: 'gpt-4.1' }, knobs('team-b', 100, 20))).status, 200, 'b');
  eq((await chat(env, msg('c1'), knobs('team-c', 10, 2))).status, 200, 'c ok');
  eq((await chat(env, msg('c2'), knobs('team-c', 10, 2))).status, 429, 'c refused');
  eq((await chat(env, { ...msg('d'), model: 'gpt-4o-mini' }, knobs('default', 10, 2))).status, 200, 'default');
}

async function populated() {
  const env = await makeEnv({ workspaces: WS });
  await stopTollgate(env);
  insertHistory(env);
  await startTollgate(env, { workspaces: WS });
  await liveTraffic(env);
  await env.rows(13);
  return env;
}

// Sums over forwarded rows, straight SQL.
const SUMS = `count(*) AS requests, sum(input_tokens) AS input_tokens,
  sum(cached_input_tokens) AS cached_input_tokens, sum(output_tokens) AS output_tokens,
  sum(reasoning_tokens) AS reasoning_tokens, sum(cost_nanousd) AS cost`;
const DAYCOL = "date(ts_ms / 1000, 'unixepoch')";

function sameSums(got, want, what) {
  eq({ r: got.requests, i: got.input_tokens, c: got.cached_input_tokens, o: got.output_tokens,
    x: got.reasoning_tokens, t: got.total_tokens, cost: nano(got.cost) },
  { r: want.requests, i: want.input_tokens, c: want.cached_input_tokens, o: want.output_tokens,
    x: want.reasoning_tokens, t: want.input_tokens + want.output_tokens, cost: want.cost }, what);
}

function monthInfo() {
  const now = new Date();
  const dom = now.getUTCDate();
  const mdays = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 0)).getUTCDate();
  return { today: dayOf(now.getTime()), first: dayOf(now.getTime()).slice(0, 8) + '01', dom, mdays };
}

test('admin_usage_rows_and_csv_match_sql', async () => {
  const env = await populated();
  try {
    const m = monthInfo();
    const from = dayOf(Date.now() - 5 * DAY);
    const r = await getJ(env, `/api/usage?from=${from}&to=${m.today}&group_by=workspace,model,day,endpoint`);
    eq(r.status, 200, 'status');
    const want = env.query(`SELECT workspace, model, ${DAYCOL} AS day, endpoint, ${SUMS} FROM requests
      WHERE forwarded = 1 AND ${DAYCOL} BETWEEN '${from}' AND '${m.today}'
      GROUP BY workspace, model, day, endpoint ORDER BY workspace, model, day, endpoint`);
    eq(r.json.rows.length, want.length, 'row count');
    want.forEach((w, i) => {
      const g = r.json.rows[i];
      eq([g.workspace, g.model, g.day, g.endpoint], [w.workspace, w.model, w.day, w.endpoint], `keys ${i}`);
      sameSums(g, w, `row ${i}`);
    });
    const tot = env.query(`SELECT ${SUMS} FROM requests WHERE forwarded = 1 AND ${DAYCOL} BETWEEN '${from}' AND '${m.today}'`)[0];
    sameSums(r.json.totals, tot, 'totals');
    eq(r.json.truncated, false, 'not truncated');
    assert(!r.json.rows.some((x) => x.workspace === 'team-c' && x.requests !== 1), 'the refused team-c request is not counted');

    // One workspace, grouped by model: the same rows as SQL, exact money.
    const a = await getJ(env, `/api/usage?workspace=team-b&from=${from}&group_by=model`);
    const wantA = env.query(`SELECT model, ${SUMS} FROM requests WHERE forwarded = 1 AND workspace = 'team-b'
      AND ${DAYCOL} BETWEEN '${from}' AND '${m.today}' GROUP BY model ORDER BY model`);
    eq(a.json.rows.map((x) => [x.model, nano(x.cost)]), wantA.map((x) => [x.model, x.cost]), 'team-b by model');

    // CSV: header, RFC 4180 quoting, same numbers.
    const c = await getJ(env, `/api/usage.csv?workspace=team-b&from=${from}&group_by=model`);
    eq(c.status, 200, 'csv status');
    assert(c.headers.get('content-type').startsWith('text/csv'), 'text/csv');
    const lines = c.text.split('\r\n');
    eq(lines[0], 'model,requests,input_tokens,cached_input_tokens,output_tokens,reasoning_tokens,total_tokens,cost', 'header');
    eq(lines[lines.length - 1], '', 'ends with CRLF');
    const weird = lines.find((l) => l.startsWith('"weird'));
    assert(weird && weird.startsWith('"weird,""model"""'), 'quoted field: ' + weird);
    eq(lines.length - 2, wantA.length, 'csv rows');
    const costs = lines.slice(1, -1).map((l) => l.slice(l.lastIndexOf(',') + 1));
    eq(costs.map((s) => Math.round(Number(s) * 1e9)), wantA.map((x) => x.cost), 'csv costs');

    // No group_by columns: one row, the totals.
    const n = await getJ(env, `/api/usage?from=${from}&group_by=`);
    eq(n.json.rows.length, 1, 'one row');
    sameSums(n.json.rows[0], tot, 'ungrouped row');
  } finally { await env.close(); }
});

test('admin_usage_month_today_trend_comparison_match_sql', async () => {
  const env = await populated();
  try {
    const m = monthInfo();
    const month = await getJ(env, '/api/usage/current-month?workspace=team-a');
    const mw = env.query(`SELECT ${SUMS} FROM requests WHERE forwarded = 1 AND workspace = 'team-a' AND ${DAYCOL} >= '${m.first}'`)[0];
    eq([month.json.total_requests, month.json.total_tokens, nano(month.json.total_cost)],
      [mw.requests, mw.input_tokens + mw.output_tokens, mw.cost], 'month totals');
    eq(month.json.daily_breakdown.length, m.dom, 'one entry per day so far');
    const perDay = env.query(`SELECT ${DAYCOL} AS d, ${SUMS} FROM requests WHERE forwarded = 1 AND workspace = 'team-a'
      AND ${DAYCOL} >= '${m.first}' GROUP BY d`);
    for (const d of month.json.daily_breakdown) {
      const w = perDay.find((x) => x.d === d.date) || { requests: 0, cost: 0, input_tokens: 0, output_tokens: 0 };
      eq([d.requests, nano(d.cost), d.tokens], [w.requests, w.cost, w.input_tokens + w.output_tokens], 'day ' + d.date);
    }
    const perModel = env.query(`SELECT model, ${SUMS} FROM requests WHERE forwarded = 1 AND workspace = 'team-a'
      AND ${DAYCOL} >= '${m.first}' GROUP BY model ORDER BY cost DESC, model`);
    eq(month.json.model_breakdown.map((x) => [x.model, x.requests, nano(x.cost)]),
      perModel.map((x) => [x.model, x.requests, x.cost]), 'month models');

    const today = await getJ(env, '/api/usage/today');
    const tw = env.query(`SELECT ${SUMS} FROM requests WHERE forwarded = 1 AND ${DAYCOL} = '${m.today}'`)[0];
    eq([today.json.total_requests, nano(today.json.total_cost)], [tw.requests, tw.cost], 'today totals');
    eq(today.json.hourly_breakdown.length, 24, '24 hours');
    const hours = env.query(`SELECT CAST(strftime('%H', ts_ms / 1000, 'unixepoch') AS INTEGER) AS h, ${SUMS}
      FROM requests WHERE forwarded = 1 AND ${DAYCOL} = '${m.today}' GROUP BY h`);
    for (const h of today.json.hourly_breakdown) {
      const w = hours.find((x) => x.h === h.hour) || { requests: 0, cost: 0 };
      eq([h.requests, nano(h.cost)], [w.requests, w.cost], 'hour ' + h.hour);
    }

    const trend = await getJ(env, '/api/usage/cost-trend?days=7');
    eq(trend.json.length, 7, '7 days');
    let cum = 0;
    for (const d of trend.json) {
      const w = env.query(`SELECT coalesce(sum(cost_nanousd), 0) AS c FROM requests WHERE forwarded = 1 AND ${DAYCOL} = '${d.date}'`)[0].c;
      cum += w;
      eq([nano(d.cost), nano(d.cumulative_cost)], [w, cum], 'trend ' + d.date);
    }
    eq(trend.json[6].date, m.today, 'ends today');

    const cmp = await getJ(env, '/api/usage/model-comparison?days=7');
    const from = dayOf(Date.now() - 6 * DAY);
    const wm = env.query(`SELECT model, ${SUMS} FROM requests WHERE forwarded = 1 AND ${DAYCOL} >= '${from}'
      GROUP BY model ORDER BY cost DESC, model`);
    const total = wm.reduce((s, x) => s + x.cost, 0);
    eq(nano(cmp.json.total_cost), total, 'comparison total');
    eq(cmp.json.models.map((x) => [x.model, x.requests, x.tokens, nano(x.cost)]),
      wm.map((x) => [x.model, x.requests, x.input_tokens + x.output_tokens, x.cost]), 'per model');
    for (const x of cmp.json.models) {
      assert(Math.abs(x.share_of_cost - (100 * nano(x.cost)) / total) < 0.01, 'share ' + x.model);
      assert(Math.abs(x.cost_per_1k_tokens - (x.cost * 1000) / x.tokens) < 1e-9, 'per 1k ' + x.model);
    }
  } finally { await env.close(); }
});

test('admin_usage_budget_quota_dashboard_match_sql', async () => {
  const env = await populated();
  try {
    const m = monthInfo();
    const b = (await getJ(env, '/api/usage/budget-status?workspace=team-a')).json;
    const spent = env.query(`SELECT sum(cost_nanousd) AS c FROM requests WHERE forwarded = 1 AND workspace = 'team-a'
      AND ${DAYCOL} >= '${m.first}'`)[0].c;
    const avg = Math.floor(spent / m.dom);
    eq([nano(b.monthly_budget), nano(b.current_spend), nano(b.daily_average), nano(b.projected_monthly_spend),
      b.days_remaining, b.is_over_budget],
    [1e9, spent, avg, avg * m.mdays, m.mdays - m.dom, spent >= 1e9], 'budget numbers');
    eq(b.budget_used_percentage, Number(((spent * 100) / 1e9).toFixed(2)), 'percentage');
    const level = spent * 100 >= 90 * 1e9 ? 'critical' : spent * 100 >= 50 * 1e9 ? 'warning' : 'normal';
    eq(b.budget_alert_level, level, 'level');
    assert(b.recommendations.length >= 1, 'recommendations');

    const all = (await getJ(env, '/api/usage/budget-status')).json;
    eq(Object.keys(all.workspaces).sort(), ['default', 'team-a', 'team-b', 'team-c'], 'every workspace');
    eq(all.workspaces['team-b'].monthly_budget, null, 'no budget: null');
    eq(all.workspaces['team-a'], b, 'same object inside the map');

    const q = (await getJ(env, '/api/quota/status/team-a')).json;
    eq(q.requests_per_minute, { current: 4, limit: 100, percentage: 4 }, 'rpm window');
    eq(q.tokens_per_day.limit, null, 'no tpd limit');
    const recent = env.query("SELECT id FROM requests WHERE workspace = 'team-a' ORDER BY id DESC LIMIT 10").map((x) => x.id);
    eq(q.enhanced_tracking.recent_activity.map((x) => x.id), recent, 'last 10 requests');
    const todayModels = env.query(`SELECT model, ${SUMS} FROM requests WHERE forwarded = 1 AND workspace = 'team-a'
      AND ${DAYCOL} = '${m.today}' GROUP BY model ORDER BY cost DESC, model`);
    eq(q.enhanced_tracking.models_breakdown.map((x) => [x.model, x.requests, nano(x.cost)]),
      todayModels.map((x) => [x.model, x.requests, x.cost]), 'models today');
    eq(q.enhanced_tracking.api_methods_breakdown.map((x) => [x.endpoint, x.requests]),
      [['/v1/chat/completions', todayModels.reduce((s, x) => s + x.requests, 0)]], 'endpoints today');
    eq((await getJ(env, '/api/quota/status/team-c')).json.status, 'rate_limited', 'team-c at its rpm');
    const c = (await getJ(env, '/api/quota/status/team-c')).json.enhanced_tracking.recent_activity;
    eq([c[0].status, c[0].forwarded, c[0].limit_hit], [429, false, 'rpm'], 'refused request in recent activity');

    const d = (await getJ(env, '/api/usage/dashboard/team-a')).json;
    eq(Object.keys(d), ['workspace', 'today', 'month', 'budget', 'intelligence', 'reconciliation'], 'dashboard keys');
    eq(d.today, (await getJ(env, '/api/usage/today?workspace=team-a')).json, 'today section');
    eq(d.month, (await getJ(env, '/api/usage/current-month?workspace=team-a')).json, 'month section');
    eq(d.budget, b, 'budget section');
    eq(d.intelligence, (await getJ(env, '/api/usage/cost-intelligence/team-a')).json, 'intelligence section');
    assert(typeof d.reconciliation.status === 'string' && Array.isArray(d.reconciliation.rows), 'reconciliation object');
  } finally { await env.close(); }
});

// Duplicate chains worked out from the rows (docs/admin-api.md).
function expectedDups(rows, windowMs) {
  const groups = new Map();
  for (const r of rows) {
    if (!r.forwarded || r.request_hash === null) continue;
    const k = `${r.endpoint}\n${r.request_hash}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  let requests = 0, cost = 0, chains = 0;
  for (const g of groups.values()) {
    g.sort((x, y) => x.ts_ms - y.ts_ms || x.id - y.id);
    let prevDup = false;
    for (let i = 1; i < g.length; i++) {
      const dup = g[i].ts_ms - g[i - 1].ts_ms <= windowMs;
      if (dup) { requests++; cost += g[i].cost_nanousd; if (!prevDup) chains++; }
      prevDup = dup;
    }
  }
  return { requests, cost, chains };
}

test('admin_cost_intelligence_matches_rows_and_prices', async () => {
  const env = await populated();
  try {
    const since = Date.parse(dayOf(Date.now() - 6 * DAY));
    const rows = env.query(`SELECT * FROM requests WHERE workspace = 'team-a' AND ts_ms >= ${since} ORDER BY id`);
    const fwd = rows.filter((r) => r.forwarded);
    const total = fwd.reduce((s, r) => s + r.cost_nanousd, 0);
    const dups = expectedDups(rows, 300000);
    eq([dups.requests, dups.chains], [2, 1], 'the three identical live requests make one chain of two duplicates');
    const bloated = fwd.filter((r) => r.input_tokens > 8000);
    const base = (model) => model.replace(/-\d{4}-\d{2}-\d{2}$/, '');
    const bloatSave = bloated.reduce((s, r) => s + Math.min(r.cost_nanousd, (r.input_tokens - 8000) * PRICE[base(r.model)][0]), 0);
    const wasted = fwd.filter((r) => base(r.model) === 'gpt-4o' && r.output_tokens <= 256);
    const mini = PRICE['gpt-4o-mini'];
    const wasteCost = wasted.reduce((s, r) => s + r.cost_nanousd, 0);
    const onMini = wasted.reduce((s, r) => s + (r.input_tokens - r.cached_input_tokens) * mini[0] +
      r.cached_input_tokens * mini[1] + r.output_tokens * mini[2], 0);

    const ci = (await getJ(env, '/api/usage/cost-intelligence/team-a')).json;
    eq(nano(ci.total_cost), total, 'total cost');
    const by = Object.fromEntries(ci.alerts.map((a) => [a.type, a]));
    eq([by.duplicate_calls.evidence.requests, by.duplicate_calls.evidence.groups, nano(by.duplicate_calls.potential_savings)],
      [dups.requests, dups.chains, dups.cost], 'duplicates');
    eq([by.prompt_bloat.evidence.requests, by.prompt_bloat.evidence.excess_tokens, nano(by.prompt_bloat.potential_savings)],
      [bloated.length, bloated.reduce((s, r) => s + r.input_tokens - 8000, 0), bloatSave], 'prompt bloat');
    eq([by.model_waste.evidence.cheaper_model, by.model_waste.evidence.requests, nano(by.model_waste.evidence.cost),
      nano(by.model_waste.potential_savings)], ['gpt-4o-mini', wasted.length, wasteCost, wasteCost - onMini], 'model waste');
    const avoid = Math.min(total, dups.cost + bloatSave + (wasteCost - onMini));
    eq(nano(ci.avoidable_cost), avoid, 'avoidable');
    eq(ci.efficiency_score, Math.floor((100 * (total - avoid)) / total), 'score formula');
    const sev = (s) => (s * 10 >= total ? 'high' : s * 50 >= total ? 'medium' : 'low');
    for (const a of ci.alerts) eq(a.severity, sev(nano(a.potential_savings)), 'severity ' + a.type);

    // A workspace with no findings scores 100 and lists no alerts.
    const b = (await getJ(env, '/api/usage/cost-intelligence/default')).json;
    eq([b.efficiency_score, b.alerts.length], [100, 0], 'clean workspace');
  } finally { await env.close(); }
});

test('admin_cost_intelligence_reads_reports_config', async () => {
  const reports = { duplicate_window_s: 0, prompt_bloat_tokens: 100000, model_waste_output_tokens: 1, intelligence_days: 1 };
  const env = await makeEnv({ workspaces: WS, reports });
  try {
    for (let i = 0; i < 2; i++) await chat(env, msg('same'), knobs('team-a', 9000, 5));
    await env.rows(2);
    const ci = (await getJ(env, '/api/usage/cost-intelligence/team-a')).json;
    eq([ci.days, ci.alerts.length, ci.efficiency_score], [1, 0, 100], 'window 0, high threshold, 1-token outputs: no findings');
  } finally { await env.close(); }
  const bad = await makeEnv({ reports: { nope: 1 } }, { noStart: true });
  try {
    let failed = false;
    try { await startTollgate(bad, { reports: { nope: 1 } }); } catch (e) { failed = /reports\.nope/.test(String(e.message)); }
    assert(failed, 'unknown reports key refused, named');
  } finally { bad.expectNonZeroExit = true; await bad.close(); }
});

test('admin_usage_bad_params_400_naming_them', async () => {
  const env = await makeEnv({ workspaces: WS });
  try {
    const cases = [
      ['/api/usage?from=2026-02-30', 'from', 'invalid_date'],
      ['/api/usage?to=yesterday', 'to', 'invalid_date'],
      ['/api/usage?from=2026-05-02&to=2026-05-01', 'from', 'invalid_range'],
      ['/api/usage?group_by=model,model', 'group_by', 'invalid_group_by'],
      ['/api/usage.csv?group_by=user', 'group_by', 'invalid_group_by'],
      ['/api/usage?workspace=no%20spaces', 'workspace', 'invalid_workspace'],
      ['/api/usage/today?workspace=never-seen', 'workspace', 'invalid_workspace'],
      ['/api/usage/cost-trend?days=0', 'days', 'invalid_days'],
      ['/api/usage/model-comparison?days=7x', 'days', 'invalid_days'],
      ['/api/usage/cost-trend?days=367', 'days', 'invalid_days'],
      ['/api/quota/status/never-seen', 'workspace', 'invalid_workspace'],
      ['/api/usage/cost-intelligence/bad!name', 'workspace', 'invalid_workspace'],
      ['/api/events?workspace=never-seen', 'workspace', 'invalid_workspace'],
    ];
    for (const [p, param, code] of cases) {
      const r = await getJ(env, p);
      eq([r.status, r.json && r.json.error.param, r.json && r.json.error.code], [400, param, code], p);
    }
    // A configured workspace without rows is known: empty, not an error.
    const ok = await getJ(env, '/api/usage?workspace=team-b');
    eq([ok.status, ok.json.rows.length, ok.json.totals.requests], [200, 0, 0], 'configured, no rows');
  } finally { await env.close(); }
});

test('admin_usage_requires_admin_token', async () => {
  const env = await makeEnv({ admin_token: 'tok-123' });
  try {
    eq((await getJ(env, '/healthz')).status, 200, 'healthz needs no token');
    for (const p of ['/api/usage', '/api/usage.csv', '/api/usage/today', '/api/quota/status/default', '/api/events']) {
      eq((await getJ(env, p)).status, 401, p + ' without a token');
      eq((await getJ(env, p, { authorization: 'Bearer tok-12' })).status, 401, p + ' with a wrong token');
    }
    eq((await getJ(env, '/api/usage', { authorization: 'Bearer tok-123' })).status, 200, 'with the token');
  } finally { await env.close(); }
});

// Opens /api/events; resolves with {res, req, events(), wait(n)}.
function openEvents(env, query = '') {
  return new Promise((resolve, reject) => {
    const req = http.get(`${env.admin}/api/events${query}`, (res) => {
      let buf = '';
      const events = [];
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, k);
          buf = buf.slice(k + 2);
          const ev = {};
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) ev.event = line.slice(7);
            if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
            if (line.startsWith('id: ')) ev.id = line.slice(4);
          }
          if (ev.event) events.push(ev);
        }
      });
      const wait = async (n) => {
        const deadline = Date.now() + 5000;
        while (events.length < n && Date.now() < deadline) await sleep(20);
        return events;
      };
      resolve({ res, req, events, wait });
    });
    req.on('error', reject);
  });
}

test('admin_events_stream_one_event_per_request_live', async () => {
  const env = await makeEnv({ workspaces: WS });
  try {
    const all = await openEvents(env);
    const onlyB = await openEvents(env, '?workspace=team-b');
    eq(all.res.statusCode, 200, 'stream status');
    eq(all.res.headers['content-type'], 'text/event-stream', 'content type');
    await liveTraffic(env);
    const rows = await env.rows(9);
    const evs = await all.wait(rows.length);
    eq(evs.length, rows.length, 'one event per request');
    const key = (x) => x.upstream_request_id ?? `refused:${x.workspace}:${x.status}`;
    const byKey = new Map(evs.map((e) => [key(e.data), e.data]));
    for (const r of rows) {
      const e = byKey.get(key(r));
      assert(e, 'event for row ' + r.id);
      eq([e.workspace, e.model, e.status, e.input_tokens, e.output_tokens, e.cost_nanousd, nano(e.cost), e.forwarded, e.limit_hit, e.request_hash, e.ts_ms],
        [r.workspace, r.model, r.status, r.input_tokens, r.output_tokens, r.cost_nanousd, r.cost_nanousd, r.forwarded === 1, r.limit_hit, r.request_hash, r.ts_ms], 'event = row ' + r.id);
    }
    eq(evs.map((e) => e.event), evs.map(() => 'request'), 'event type');
    eq(evs.map((e) => Number(e.id)), evs.map((e) => e.data.seq), 'id is seq');
    const bs = await onlyB.wait(2);
    eq(bs.map((e) => e.data.workspace), ['team-b', 'team-b'], 'workspace filter');

    // Bounded clients: 16 open here (2 above + 14), the next gets 503; a
    // client that leaves frees its place.
    const more = [];
    for (let i = 0; i < 14; i++) more.push(await openEvents(env));
    const refused = await openEvents(env);
    eq(refused.res.statusCode, 503, 'seventeenth client refused');
    refused.req.destroy();
    more[0].req.destroy();
    let again;
    for (let i = 0; i < 50; i++) {
      again = await openEvents(env);
      if (again.res.statusCode === 200) break;
      again.req.destroy();
      await sleep(20);
    }
    eq(again.res.statusCode, 200, 'a place freed by a client that went away');
    // The proxy keeps serving with a client gone and others idle.
    eq((await chat(env, msg('after'), knobs('default', 1, 1))).status, 200, 'proxy unaffected');
    for (const s of [all, onlyB, again, ...more.slice(1)]) s.req.destroy();
  } finally { await env.close(); }
});
