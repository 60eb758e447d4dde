// 19_images — POST /v1/images/generations with dall-e, metered per image
// (issue 5; openai-wire.md §4.4, §8).
//
// Proves: dall-e-2 and dall-e-3 rows carry units = n images, unit_kind
// "images" and the price of their size and quality (dall-e-3 hd priced
// apart; dall-e-2 the default model when none is named), through the
// official openai SDK and curl; an upstream error costs nothing; a
// GPT-image model is priced from the text and image tokens its answer
// reports; a budget refuses by the image price.
import OpenAI from 'openai';
import { test, makeEnv, eq, assert, curl } from './lib.mjs';

const gen = (env, body, headers = []) => curl([`${env.base}/v1/images/generations`,
  '-H', 'content-type: application/json', ...headers.flatMap((h) => ['-H', h]),
  '--data-binary', JSON.stringify(body)]);
const USD = 1e9;

test('images_dalle_rows_priced_per_image', async () => {
  const env = await makeEnv();
  try {
    const client = new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${env.base}/v1`, maxRetries: 0 });
    const r = await client.images.generate({ model: 'dall-e-3', prompt: 'a toll gate', size: '1792x1024', quality: 'hd' });
    eq(r.data.length, 1, 'SDK got the image');
    eq((await gen(env, { prompt: 'cats', n: 3, size: '256x256' })).status, 200, 'dall-e-2 by default');
    eq((await gen(env, { model: 'dall-e-3', prompt: 'dogs' })).status, 200, 'dall-e-3 standard 1024');
    const b64 = await gen(env, { model: 'dall-e-2', prompt: 'x', n: 2, response_format: 'b64_json' });
    eq(JSON.parse(b64.body).data.length, 2, 'b64 images passed through');
    eq((await gen(env, { model: 'dall-e-3', prompt: 'no' }, ['x-fake-status: 400'])).status, 400, 'error');
    const rows = await env.rows(5);
    eq(env.fakeLog().map((l) => l.usage && l.usage.images), [1, 3, 1, 2, null], 'the fake made these');
    eq(rows.map((x) => [x.endpoint, x.model, x.units, x.unit_kind, x.cost_nanousd]), [
      ['/v1/images/generations', 'dall-e-3', 1, 'images', 0.12 * USD],
      ['/v1/images/generations', 'dall-e-2', 3, 'images', 3 * 0.016 * USD],
      ['/v1/images/generations', 'dall-e-3', 1, 'images', 0.04 * USD],
      ['/v1/images/generations', 'dall-e-2', 2, 'images', 2 * 0.02 * USD],
      ['/v1/images/generations', 'dall-e-3', null, null, 0],
    ], 'rows');
  } finally { await env.close(); }
});

test('images_gpt_image_priced_by_tokens', async () => {
  const env = await makeEnv();
  try {
    const r = await gen(env, { model: 'gpt-image-1', prompt: 'x', quality: 'high' });
    eq(r.status, 200, 'passes');
    const u = JSON.parse(r.body).usage;
    const [row] = await env.rows(1);
    // gpt-image-1: text in $5, image in $10, image out $40 per 1M
    const want = (u.input_tokens - u.input_tokens_details.image_tokens) * 5000 +
      u.input_tokens_details.image_tokens * 10000 + u.output_tokens * 40000;
    eq([row.model, row.units, row.unit_kind, row.input_tokens, row.output_tokens, row.cost_nanousd],
      ['gpt-image-1', 1, 'images', 50, 4250, want], 'priced from its usage');
    eq(env.fakeLog()[0].usage.tokens.output_tokens, row.output_tokens, 'as the upstream reported');
  } finally { await env.close(); }
});

test('images_budget_refuses_by_image_price', async () => {
  const env = await makeEnv({ workspaces: { default: { limits: { daily_usd: 0.10 } } } });
  try {
    const hd = { model: 'dall-e-3', prompt: 'x', quality: 'hd' }; // $0.08
    eq((await gen(env, hd)).status, 200, 'first fits');
    const r = await gen(env, hd);
    eq([r.status, r.headers['x-tollgate-limit']], [429, 'daily_usd'], 'second would pass $0.10');
    eq(env.fakeLog().length, 1, 'never reached the upstream');
  } finally { await env.close(); }
});
