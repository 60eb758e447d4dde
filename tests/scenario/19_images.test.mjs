// 19_images — POST /v1/images/generations with dall-e, metered per image
// (issue 5; openai-wire.md §4.4, §8).
//
// Proves: dall-e-2 and dall-e-3 rows carry units = n images, unit_kind
// "images" and the price of their size and quality (dall-e-3 hd priced
// apart; dall-e-2 the default model when none is named), through the
// official openai SDK and curl; an upstream error costs nothing; a
// GPT-image model is priced from the text and image tokens its answer
// reports, streamed or not; a budget refuses by the image price, and a
// GPT-image request reserves its image tokens before it leaves.  Image
// edits (multipart and JSON) and variations (multipart) are priced the
// same way, through the SDK's own multipart uploads, with a real PNG file
// of a few hundred kilobytes streaming through.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import OpenAI, { toFile } from 'openai';
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

// A real, valid PNG (RGBA noise, so it does not compress): w x h pixels.
function png(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b) => { let c = 0xffffffff; for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 6;
  const raw = crypto.randomBytes((w * 4 + 1) * h);
  for (let y = 0; y < h; y++) raw[y * (w * 4 + 1)] = 0; // filter type: none
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test('images_edits_and_variations_priced_per_image', async () => {
  const env = await makeEnv();
  try {
    const image = png(256, 256);
    assert(image.length > 200000, 'a sizeable upload');
    const client = new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${env.base}/v1`, maxRetries: 0 });
    const e = await client.images.edit({ model: 'dall-e-2', image: await toFile(image, 'cat.png', { type: 'image/png' }),
      prompt: 'add a hat', n: 2, size: '512x512' });
    eq(e.data.length, 2, 'SDK edit');
    const v = await client.images.createVariation({ image: await toFile(image, 'cat.png', { type: 'image/png' }),
      n: 3, size: '256x256' });
    eq(v.data.length, 3, 'SDK variation');
    // a JSON edit (2026 API: images by URL or file id)
    const j = await curl([`${env.base}/v1/images/edits`, '-H', 'content-type: application/json', '--data-binary',
      JSON.stringify({ model: 'dall-e-2', prompt: 'x', images: [{ image_url: 'https://example.invalid/a.png' }], image: { file_id: 'file-1' } })]);
    eq(j.status, 200, 'JSON edit');
    const rows = await env.rows(3);
    const log = env.fakeLog();
    eq(log.map((l) => [l.usage.source, l.usage.images]), [['image.edit', 2], ['image.variation', 3], ['image.edit', 1]], 'the fake made these');
    eq(rows.map((x) => [x.endpoint, x.model, x.units, x.unit_kind, x.cost_nanousd, x.estimated]), [
      ['/v1/images/edits', 'dall-e-2', 2, 'images', 2 * 0.018 * USD, 0],
      ['/v1/images/variations', 'dall-e-2', 3, 'images', 3 * 0.016 * USD, 0],
      ['/v1/images/edits', 'dall-e-2', 1, 'images', 0.02 * USD, 0],
    ], 'rows');
  } finally { await env.close(); }
});

test('images_gpt_image_streams_metered_from_completed_event', async () => {
  const env = await makeEnv();
  try {
    const g = await gen(env, { model: 'gpt-image-1', prompt: 'x', stream: true, quality: 'low' }, ['x-fake-output-tokens: 272']);
    eq(g.status, 200, 'generation stream');
    assert(g.body.includes('event: image_generation.partial_image') && g.body.includes('event: image_generation.completed'), 'events arrived');
    const dir = fs.mkdtempSync(path.join(env.dir, 'img-'));
    fs.writeFileSync(path.join(dir, 'a.png'), png(64, 64));
    const e = await curl([`${env.base}/v1/images/edits`, '-F', 'model=gpt-image-1', '-F', `image=@${path.join(dir, 'a.png')};type=image/png`,
      '-F', 'prompt=hat', '-F', 'stream=true', '-H', 'x-fake-input-tokens: 300', '-H', 'x-fake-output-tokens: 1056']);
    eq(e.status, 200, 'edit stream');
    assert(e.body.includes('event: image_edit.completed'), 'edit events arrived');
    const rows = await env.rows(2);
    const log = env.fakeLog();
    const price = (t) => (t.input_tokens - t.input_tokens_details.image_tokens) * 5000 +
      t.input_tokens_details.image_tokens * 10000 + t.output_tokens * 40000;
    eq(rows.map((x) => [x.endpoint, x.model, x.stream, x.input_tokens, x.output_tokens, x.cost_nanousd, x.estimated]), [
      ['/v1/images/generations', 'gpt-image-1', 1, 50, 272, price(log[0].usage.tokens), 0],
      ['/v1/images/edits', 'gpt-image-1', 1, 300, 1056, price(log[1].usage.tokens), 0],
    ], 'priced from image_*.completed usage');
  } finally { await env.close(); }
});

test('images_gpt_image_reserves_its_image_tokens', async () => {
  // high quality 1024x1024 reserves 4160 image tokens at $40/1M = $0.1664
  const env = await makeEnv({ workspaces: { default: { limits: { daily_usd: 0.10 } } } });
  try {
    const low = await gen(env, { model: 'gpt-image-1', prompt: 'x', quality: 'low' }, ['x-fake-output-tokens: 272']);
    eq(low.status, 200, 'low quality fits ($0.011)');
    const r = await gen(env, { model: 'gpt-image-1', prompt: 'x', quality: 'high' });
    eq([r.status, r.headers['x-tollgate-limit']], [429, 'daily_usd'], 'high quality would pass $0.10');
    eq(env.fakeLog().length, 1, 'never reached the upstream');
  } finally { await env.close(); }
});
