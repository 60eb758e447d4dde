// 46_report_cli — `tollgate report` (DESIGN.md "Command line"; issue 6).
//
// Proves: while the proxy runs, the command reads its database read-only
// and prints, for --by any of workspace, model, day, endpoint, CSV rows
// equal to the sums straight SQL over the forwarded `requests` rows gives
// (a refused request left out), JSON byte-identical to the admin API's
// /api/usage for the same range and grouping, and a table whose columns
// line up with a TOTAL line equal to the SQL totals; --since/--until and
// --workspace filter; -c takes the database from a config file; a missing
// database is named with how to create one, and is not created; bad
// options exit 2 naming the option; --help exits 0.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, makeEnv, eq, assert, chat, tollgateBin } from './lib.mjs';

const WS = { default: { limits: {} }, 'team-a': { limits: {} }, 'team-b': { limits: { rpm: 2 } } };
const knobs = (ws, inp, out) => ({ 'x-tollgate-workspace': ws, 'x-fake-input-tokens': String(inp), 'x-fake-output-tokens': String(out) });
const today = () => new Date().toISOString().slice(0, 10);

function report(args) {
  const r = spawnSync(tollgateBin, ['report', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function populated() {
  const env = await makeEnv({ workspaces: WS });
  const send = async (model, ws, inp, out, status = 200) => {
    const r = await chat(env, { model, messages: [{ role: 'user', content: `${model} ${ws} ${inp}` }] }, knobs(ws, inp, out));
    eq(r.status, status, `${model} ${ws}`);
  };
  await send('gpt-4o', 'team-a', 1200, 40);
  await send('gpt-4o-mini', 'team-a', 300, 7);
  await send('gpt-4.1', 'team-b', 55, 5);
  await send('gpt-4o-mini', 'team-b', 66, 6);
  await send('gpt-4o-mini', 'team-b', 77, 7, 429);
  await send('gpt-4o', 'default', 5, 1);
  await env.rows(6);
  return env;
}

const KEYCOL = { workspace: 'workspace', model: 'model', endpoint: 'endpoint', day: "date(ts_ms / 1000, 'unixepoch')" };

function sqlRows(env, by, where = '1=1') {
  const keys = by.map((k) => `${KEYCOL[k]} AS ${k}`).join(', ');
  const order = by.join(', ');
  return env.query(`SELECT ${keys}, count(*) AS requests, sum(input_tokens) AS i, sum(cached_input_tokens) AS c,
    sum(output_tokens) AS o, sum(reasoning_tokens) AS r, sum(cost_nanousd) AS cost FROM requests
    WHERE forwarded = 1 AND ${where} GROUP BY ${order} ORDER BY ${order}`);
}

const usd = (nano) => `${Math.floor(nano / 1e9)}.${String(nano % 1e9).padStart(9, '0')}`;

test('report_cli_csv_matches_sql_for_each_grouping', async () => {
  const env = await populated();
  try {
    for (const by of [['workspace'], ['model'], ['day'], ['endpoint'], ['workspace', 'model'], ['model', 'day', 'endpoint', 'workspace']]) {
      const r = report(['--db', env.db, '--by', by.join(','), '--format', 'csv']);
      eq(r.code, 0, 'exit ' + r.err);
      const lines = r.out.split('\r\n');
      eq(lines[0], `${by.join(',')},requests,input_tokens,cached_input_tokens,output_tokens,reasoning_tokens,total_tokens,cost`, 'header');
      const want = sqlRows(env, by).map((w) =>
        [...by.map((k) => w[k]), w.requests, w.i, w.c, w.o, w.r, w.i + w.o, usd(w.cost)].join(','));
      eq(lines.slice(1, -1), want, 'rows by ' + by.join(','));
    }
    const one = report(['--db', env.db, '--by', 'model', '--format', 'csv', '--workspace', 'team-b']);
    eq(one.out.split('\r\n').slice(1, -1).map((l) => l.split(',')[0]),
      sqlRows(env, ['model'], "workspace = 'team-b'").map((w) => w.model), '--workspace filter');
    const none = report(['--db', env.db, '--since', '2020-01-01', '--until', '2020-01-31', '--format', 'csv']);
    eq([none.code, none.out.split('\r\n').length], [0, 2], 'an empty range prints the header only');
  } finally { await env.close(); }
});

test('report_cli_json_equals_admin_api_and_table_lines_up', async () => {
  const env = await populated();
  try {
    const since = '2026-01-01';
    const j = report(['--db', env.db, '--since', since, '--until', today(), '--by', 'workspace,model', '--format', 'json']);
    eq(j.code, 0, 'json exit');
    const api = await (await fetch(`${env.admin}/api/usage?from=${since}&to=${today()}&group_by=workspace,model`)).text();
    eq(j.out, api, 'same bytes as GET /api/usage');

    const t = report(['--db', env.db, '--since', since, '--by', 'workspace,model']);
    eq(t.code, 0, 'table exit');
    const lines = t.out.split('\n').filter(Boolean);
    const want = sqlRows(env, ['workspace', 'model']);
    eq(lines.length, want.length + 3, 'header, rule, rows, TOTAL');
    assert(/^WORKSPACE +MODEL +REQUESTS +INPUT +CACHED +OUTPUT +REASONING +TOKENS +COST_USD$/.test(lines[0]), lines[0]);
    assert(/^-+( +-+)+$/.test(lines[1]), 'rule ' + lines[1]);
    eq(new Set(lines.map((l) => l.length)).size, 1, 'every line the same width: columns aligned');
    // Column starts from the rule; each value sits inside its column.
    const cols = [...lines[1].matchAll(/-+/g)].map((m) => [m.index, m.index + m[0].length]);
    const cell = (line, c) => line.slice(cols[c][0], cols[c][1]).trim();
    want.forEach((w, i) => {
      const l = lines[i + 2];
      eq([cell(l, 0), cell(l, 1), Number(cell(l, 2)), Number(cell(l, 7))], [w.workspace, w.model, w.requests, w.i + w.o], 'row ' + i);
      eq(Math.round(Number(cell(l, 8)) * 1e6), Math.round(w.cost / 1000), 'cost to the micro-dollar');
    });
    const tot = env.query('SELECT count(*) AS n, sum(cost_nanousd) AS c FROM requests WHERE forwarded = 1')[0];
    const last = lines[lines.length - 1];
    eq([cell(last, 0), Number(cell(last, 2)), Math.round(Number(cell(last, 8)) * 1e6)],
      ['TOTAL', tot.n, Math.round(tot.c / 1000)], 'TOTAL line');
  } finally { await env.close(); }
});

test('report_cli_config_errors_and_help', async () => {
  const env = await populated();
  try {
    const c = report(['-c', env.configPath, '--by', 'workspace', '--format', 'csv']);
    eq(c.code, 0, '-c exit ' + c.err);
    eq(c.out.split('\r\n').slice(1, -1).map((l) => l.split(',')[0]), sqlRows(env, ['workspace']).map((w) => w.workspace), '-c reads its db');

    const missing = path.join(env.dir, 'nope', 'none.db');
    const m = report(['--db', missing]);
    eq(m.code, 1, 'missing database exits 1');
    assert(m.err.includes(missing) && /tollgate run/.test(m.err), 'names the path and how to create it: ' + m.err);
    assert(!fs.existsSync(missing), 'no database created');
    const m2 = report(['--db', path.join(env.dir, 'absent.db')]);
    assert(m2.code === 1 && !fs.existsSync(path.join(env.dir, 'absent.db')), 'not created beside an existing one either');

    for (const [args, what] of [
      [['--by', 'user'], '--by'], [['--by', 'day,day'], '--by'], [['--since', '2026-02-30'], '--since'],
      [['--until', 'today'], '--until'], [['--since', '2026-05-02', '--until', '2026-05-01'], '--since'],
      [['--format', 'xml'], '--format'], [['--bogus'], '--bogus'], [['--db'], '--db'],
    ]) {
      const r = report(['--db', env.db, ...args]);
      eq(r.code, 2, args.join(' '));
      assert(r.err.includes(what), `${args.join(' ')} names ${what}: ${r.err}`);
      eq(r.out, '', 'nothing on stdout');
    }
    const h = report(['--help']);
    assert(h.code === 0 && /--since/.test(h.out) && /--format/.test(h.out), 'help');
    // Read-only: the proxy is still writing happily afterwards.
    eq((await chat(env, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'after' }] }, {})).status, 200, 'proxy unaffected');
    await env.rows(7);
    assert(execFileSync('sqlite3', [env.db, 'PRAGMA integrity_check'], { encoding: 'utf8' }).trim() === 'ok', 'database intact');
  } finally { await env.close(); }
});
