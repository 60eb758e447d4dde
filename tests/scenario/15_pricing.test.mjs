// 15_pricing — what a row costs, end to end.
//
// Proves: the response's dated snapshot picks the price; a fine-tune is
// priced at its ft: base rates; service_tier "priority" and "flex" use
// those rates;
// an unpriced model is recorded at cost 0 and warned about once
// (unpriced_model "allow") or refused with 400 before it leaves ("deny");
// endpoints tollgate does not meter (models, moderations, files uploaded
// as multipart, vector stores, unknown paths) pass through untouched and
// are counted at cost 0 under their endpoint; an HTTP/1.0 client is served too.
// Expected costs are computed here from openai-wire.md §8 in integers.
import fs from 'node:fs';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import { test, makeEnv, eq, assert, chat, curl, sameUsage, root } from './lib.mjs';

const PRICE_VERSION = JSON.parse(fs.readFileSync(path.join(root, 'meter/prices.json'), 'utf8')).version;

const msg = (model) => ({ model, messages: [{ role: 'user', content: 'price me' }] });
// nano-USD per token
const cost = (r, [i, c, o]) => (r.input_tokens - r.cached_input_tokens) * i +
  r.cached_input_tokens * c + r.output_tokens * o;

test('pricing_snapshot_finetune_and_priority_tier', async () => {
  const env = await makeEnv();
  try {
    const ft = 'ft:gpt-4o-mini-2024-07-18:acme:support:abc123';
    eq((await chat(env, msg('gpt-4o'), { 'x-fake-model': 'gpt-4o-2024-05-13' })).status, 200, 'old snapshot');
    eq((await chat(env, msg(ft), { 'x-fake-cached': '1' })).status, 200, 'fine-tune');
    eq((await chat(env, msg('gpt-4.1'), { 'x-fake-service-tier': 'priority', 'x-fake-cached': '1' })).status,
      200, 'priority');
    eq((await chat(env, msg('gpt-4.1'), { 'x-fake-cached': '1' })).status, 200, 'default tier');
    eq((await chat(env, msg('o3'), { 'x-fake-service-tier': 'flex', 'x-fake-cached': '1' })).status, 200, 'flex');
    const rows = await env.rows(5);
    const log = env.fakeLog();
    rows.forEach((r, i) => sameUsage(r, log[i], `row ${i}`));
    eq(rows[0].model, 'gpt-4o-2024-05-13', 'snapshot stored');
    eq(rows[0].cost_nanousd, cost(rows[0], [5000, 5000, 15000]), 'gpt-4o-2024-05-13 has its own price');
    eq(rows[1].model, ft, 'fine-tune stored by its full name');
    eq(rows[1].cost_nanousd, cost(rows[1], [300, 150, 1200]), 'fine-tune at ft:gpt-4o-mini rates');
    eq(rows[2].cost_nanousd, cost(rows[2], [3500, 875, 14000]), 'priority rates');
    eq(rows[3].cost_nanousd, cost(rows[3], [2000, 500, 8000]), 'standard rates');
    eq(rows[4].cost_nanousd, cost(rows[4], [1000, 250, 4000]), 'flex rates');
    assert(rows.every((r) => r.price_version === PRICE_VERSION), 'price_version on every row');
  } finally { await env.close(); }
});

test('pricing_unpriced_model_allow_and_deny', async () => {
  let env = await makeEnv();
  try {
    for (let i = 0; i < 2; i++) eq((await chat(env, msg('unknown-model-x'))).status, 200, 'allowed');
    const rows = await env.rows(2);
    assert(rows.every((r) => r.cost_nanousd === 0 && r.model === 'unknown-model-x' && r.input_tokens > 0),
      'recorded with tokens at cost 0');
    const warnings = env.logText().split('\n').filter((l) => l.includes('"unknown-model-x" has no price'));
    eq(warnings.length, 1, 'warned once');
    const m = await (await fetch(`${env.admin}/metrics`)).text();
    assert(/tollgate_requests_unpriced_total 2\b/.test(m), 'counted');
  } finally { await env.close(); }
  env = await makeEnv({ unpriced_model: 'deny' });
  try {
    const r = await chat(env, msg('unknown-model-x'));
    eq(r.status, 400, 'denied');
    eq(JSON.parse(r.body).error.code, 'model_not_priced', 'code');
    eq(env.fakeLog().length, 0, 'never reached the upstream');
    eq((await chat(env, msg('gpt-4o-mini'))).status, 200, 'priced models pass');
  } finally { await env.close(); }
});

test('pricing_passthrough_endpoints_cost_zero', async () => {
  const env = await makeEnv();
  try {
    const models = await curl([`${env.base}/v1/models`]);
    eq(models.status, 200, 'GET /v1/models');
    eq(JSON.parse(models.body).object, 'list', 'models body');
    const unknown = await curl([`${env.base}/v1/not-a-thing`, '-X', 'POST', '-d', '{}',
      '-H', 'content-type: application/json']);
    eq(unknown.status, 404, 'unknown path answered by the upstream');
    eq(JSON.parse(unknown.body).error.code, 'unknown_url', 'upstream error body passed through');
    const h10 = await curl(['--http1.0', `${env.base}/v1/chat/completions`, '-H', 'content-type: application/json',
      '-d', JSON.stringify(msg('gpt-4o-mini'))]);
    eq(h10.status, 200, 'HTTP/1.0 client');
    eq(JSON.parse(h10.body).object, 'chat.completion', 'HTTP/1.0 body');
    const client = new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${env.base}/v1`, maxRetries: 0 });
    const mod = await client.moderations.create({ model: 'omni-moderation-latest', input: ['is this fine?', 'and this?'] });
    eq(mod.results.length, 2, 'moderation answered');
    const file = await client.files.create({ purpose: 'batch',
      file: await toFile(Buffer.from('{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{}}\n'), 'in.jsonl') });
    assert(file.id.startsWith('file-'), 'file uploaded (multipart, passed through)');
    const vs = await curl([`${env.base}/v1/vector_stores`, '-H', 'content-type: application/json', '-d', '{"name":"kb"}']);
    eq(JSON.parse(vs.body).object, 'vector_store', 'vector store created');
    const rows = await env.rows(6);
    eq(rows.map((r) => [r.endpoint, r.status, r.model, r.cost_nanousd, r.estimated]),
      [['/v1/models', 200, null, 0, 0], ['other', 404, null, 0, 0],
        ['/v1/chat/completions', 200, rows[2].model, rows[2].cost_nanousd, 0],
        ['/v1/moderations', 200, 'omni-moderation-2024-09-26', 0, 0],
        ['/v1/files', 200, null, 0, 0], ['other', 200, null, 0, 0]],
      'rows');
    assert(rows[2].cost_nanousd > 0, 'HTTP/1.0 request metered');
  } finally { await env.close(); }
});
