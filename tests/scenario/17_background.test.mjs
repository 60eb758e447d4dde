// 17_background — Responses API background mode and the Batch API, metered
// once per response or batch (issue 5; openai-wire.md §3.3, §5).
//
// Proves: POST /v1/responses with background: true is recorded at cost 0
// without usage (and not as an estimate); polls that show it in progress
// cost nothing; the first poll that shows it completed (JSON or a
// ?stream=true event stream) carries its usage
// and cost, exactly as the upstream reports it, attributed to the workspace
// that created it (its row and its budget) even when another workspace polls; later polls, and
// polls for responses made elsewhere, cost nothing; a restart keeps a
// pending response pending, so it is still metered once afterwards; a
// batch is metered once, at half the standard rates, when a GET shows it
// completed.
import OpenAI from 'openai';
import { test, makeEnv, startTollgate, stopTollgate, eq, assert, curl } from './lib.mjs';

const create = (env, ws) => curl([`${env.base}/v1/responses`, '-H', 'content-type: application/json',
  '-H', `x-tollgate-workspace: ${ws}`,
  '--data-binary', JSON.stringify({ model: 'gpt-4o-mini', input: 'write a long essay', background: true })]);
const poll = (env, id, ws = 'default', headers = []) => curl([`${env.base}/v1/responses/${id}`,
  '-H', `x-tollgate-workspace: ${ws}`, ...headers.flatMap((h) => ['-H', h])]);
const cost = (u) => u.input_tokens * 150 + u.output_tokens * 600; // gpt-4o-mini

test('background_response_metered_once_when_complete', async () => {
  const config = { workspaces: { default: { limits: {} }, 'team-a': { limits: {} } } };
  const env = await makeEnv(config);
  try {
    const c = await create(env, 'team-a');
    eq(c.status, 200, 'created');
    const queued = JSON.parse(c.body);
    eq([queued.status, queued.usage], ['queued', null], 'queued, no usage yet');
    const id = queued.id;
    eq(JSON.parse((await poll(env, id, 'team-a', ['x-fake-background-polls: 1'])).body).status, 'in_progress', 'in progress');
    const done = await poll(env, id, 'other-team');
    eq(JSON.parse(done.body).status, 'completed', 'completed');
    // the SDK polls too; the official retrieve call
    const client = new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${env.base}/v1`, maxRetries: 0 });
    eq((await client.responses.retrieve(id)).status, 'completed', 'SDK retrieve');
    eq((await poll(env, 'resp_not_made_here')).status, 404, 'unknown id passed through');
    const rows = await env.rows(5);
    const log = env.fakeLog();
    const usage = log[2].usage;
    assert(usage && usage.output_tokens > 0, 'the upstream reported usage on completion');
    eq(rows.map((r) => [r.workspace, r.endpoint, r.input_tokens, r.output_tokens, r.cost_nanousd, r.estimated]), [
      ['team-a', '/v1/responses', 0, 0, 0, 0],
      ['team-a', rows[1].endpoint, 0, 0, 0, 0],
      ['team-a', rows[2].endpoint, usage.input_tokens, usage.output_tokens, cost(usage), 0],
      ['default', rows[3].endpoint, 0, 0, 0, 0],
      ['default', rows[4].endpoint, 0, 0, 0, 0],
    ], 'one row carries the usage, for the creating workspace');
    eq(rows.filter((r) => r.cost_nanousd > 0).length, 1, 'metered once');
    const day = env.query("SELECT workspace, sum(cost_nanousd) AS c FROM usage_daily GROUP BY workspace ORDER BY workspace");
    eq(day.find((d) => d.workspace === 'team-a').c, cost(usage), 'daily rollup');
    // the creator's budget is charged, not the poller's
    const ws = (await (await fetch(`${env.admin}/api/workspaces`)).json()).workspaces;
    const spent = (name) => ws.find((w) => w.name === name)?.spend.today_nanousd;
    eq([spent('team-a'), spent('other-team') ?? 0], [cost(usage), 0], 'budget charged to the creator');
  } finally { await env.close(); }
});

test('background_streamed_poll_metered_once', async () => {
  const env = await makeEnv();
  try {
    const id = JSON.parse((await create(env, 'default')).body).id;
    const pending = await poll(env, `${id}?stream=true`, 'default', ['x-fake-background-polls: 1']);
    assert(pending.body.includes('event: response.in_progress') && !pending.body.includes('response.completed'), 'still running');
    const done = await poll(env, `${id}?stream=true`);
    assert(done.body.includes('event: response.completed'), 'the stream ends with completion');
    eq((await poll(env, `${id}?stream=true`)).status, 200, 'streamed again');
    const rows = await env.rows(4);
    const usage = env.fakeLog()[2].usage;
    eq(rows.map((r) => [r.endpoint, r.stream, r.input_tokens, r.output_tokens, r.cost_nanousd]), [
      ['/v1/responses', 0, 0, 0, 0],
      ['/v1/responses/{id}', 0, 0, 0, 0],
      ['/v1/responses/{id}', 0, usage.input_tokens, usage.output_tokens, cost(usage)],
      ['/v1/responses/{id}', 0, 0, 0, 0],
    ], 'metered once, from the terminal event of the streamed poll');
  } finally { await env.close(); }
});

test('background_pending_survives_restart', async () => {
  const env = await makeEnv();
  try {
    const id = JSON.parse((await create(env, 'default')).body).id;
    eq((await stopTollgate(env)).code, 0, 'stopped');
    await startTollgate(env);
    eq((await poll(env, id)).status, 200, 'polled after restart');
    eq((await poll(env, id)).status, 200, 'polled again');
    const rows = await env.rows(3);
    eq(rows.map((r) => r.cost_nanousd > 0), [false, true, false], 'metered once, after the restart');
    eq(env.query("SELECT count(*) AS n FROM background_responses WHERE metered_ms IS NULL")[0].n, 0, 'marked metered');
  } finally { await env.close(); }
});

// Batch API (openai-wire.md §5): metered once when a GET shows it completed,
// at half the standard rates, for the workspace that created it.
test('batch_metered_once_at_batch_price', async () => {
  const env = await makeEnv({ workspaces: { default: { limits: {} }, batcher: { limits: {} } } });
  try {
    const client = new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${env.base}/v1`, maxRetries: 0,
      defaultHeaders: { 'x-tollgate-workspace': 'batcher', 'x-fake-input-tokens': '2000', 'x-fake-output-tokens': '700' } });
    const b = await client.batches.create({ input_file_id: 'file-abc', endpoint: '/v1/chat/completions',
      completion_window: '24h' });
    eq(b.status, 'validating', 'created');
    const p1 = await curl([`${env.base}/v1/batches/${b.id}`, '-H', 'x-fake-background-polls: 1']);
    eq(JSON.parse(p1.body).status, 'in_progress', 'in progress');
    eq((await client.batches.retrieve(b.id)).status, 'completed', 'completed');
    eq(JSON.parse((await curl([`${env.base}/v1/batches/${b.id}`])).body).status, 'completed', 'again');
    const rows = await env.rows(4);
    // gpt-4o-mini batch: half of 0.15 / 0.60 per 1M = 75 / 300 nano-USD per token
    const want = 2000 * 75 + 700 * 300;
    eq(rows.map((r) => [r.workspace, r.model, r.input_tokens, r.output_tokens, r.cost_nanousd]), [
      ['batcher', 'gpt-4o-mini', 0, 0, 0],
      ['default', 'gpt-4o-mini', 0, 0, 0],
      ['batcher', 'gpt-4o-mini', 2000, 700, want],
      ['default', 'gpt-4o-mini', 0, 0, 0],
    ], 'metered once at batch prices, for the creator');
  } finally { await env.close(); }
});
