// tests/fake/org.mjs -- the fake upstream's organization Usage and Costs
// APIs (openai-wire.md §7), for the reconciler's tests.
//
// WHAT IT SERVES (GET, Authorization: Bearer sk-admin-...)
//   /v1/organization/usage/{completions,embeddings,moderations,images,
//                           audio_speeches,audio_transcriptions}
//   /v1/organization/costs
//   with start_time (required, inclusive), end_time (exclusive; default
//   now), bucket_width 1m|1h|1d (Costs: 1d only), limit (per-width default
//   and maximum as §7 gives; 400 past them), page (the cursor from
//   next_page), group_by (repeated keys or group_by[]=, also a
//   comma-separated value), and the filters models / project_ids.
//   Envelope {object:"page", data:[bucket...], has_more, next_page};
//   a bucket {object:"bucket", start_time, end_time, results:[...]} for
//   every interval of the range, empty ones included (results: []);
//   results carry every group-by key, null unless grouped by.
//   A key that does not start with "sk-admin-" gets 401 with OpenAI's
//   invalid_api_key body.
//
// WHERE THE NUMBERS COME FROM
//   1. Served traffic: every line of the fake's own log (h.logPath) for a
//      POST the fake answered 200 with usage: chat/completions, completions
//      and responses count as completions (input_tokens includes cached,
//      as OpenAI's does), embeddings, images (images), audio/speech
//      (characters), audio/transcriptions and translations (seconds).  A
//      log line has no time: it is stamped when this module first reads
//      it (tests reconcile seconds after the traffic, within one day).
//      Its project is the one the control config maps its
//      authorization_sha256 to, else default_project.
//   2. Bypass traffic a test injects (traffic the proxy never saw).
//   Costs: the same usage priced with meter/prices.json (the model's
//   snapshot entry, else its alias: "-YYYY-MM-DD" stripped): line items
//   "<model>, input" (uncached input), "<model>, cached input" and
//   "<model>, output", amount.value in USD, grouped by project.  Token
//   endpoints only (images and audio have no cost line here).
//
// CONTROL (no auth; not in the org log below)
//   POST /v1/organization/fake/config  JSON, merged into the knobs:
//     {projects: {"<authorization_sha256 from the fake log>": "proj_x"},
//      default_project: "proj_default",
//      extra: [{endpoint: "completions", model, project_id, requests,
//               input_tokens, cached_tokens, output_tokens, ts (Unix s,
//               default now), images, characters, seconds}],   (appended)
//      fail: {count: N, status: 429, retry_after: "1"},  the next N org
//               requests get that status (429: OpenAI's rate-limit body
//               and Retry-After; 5xx: server_error)
//      page_max: N       at most N buckets per page, whatever limit says
//      amount_as_string: true   amount.value as a decimal string}
//   GET  /v1/organization/fake/log  {requests:[{t_ms, method, path,
//        status}]}: every org request answered, in order, with the time
//        it arrived (the shared log has no times).
//   POST /v1/organization/fake/reset   forgets extra, fail and the log.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PRICES = JSON.parse(fs.readFileSync(path.join(here, '..', '..', 'meter', 'prices.json'), 'utf8')).models;

const WIDTHS = { '1m': 60, '1h': 3600, '1d': 86400 };
const LIMITS = { '1m': [60, 1440], '1h': [24, 168], '1d': [7, 31] };
const USAGE_KINDS = {
  completions: { object: 'organization.usage.completions.result', groups: ['project_id', 'user_id', 'api_key_id', 'model', 'batch', 'service_tier'] },
  embeddings: { object: 'organization.usage.embeddings.result', groups: ['project_id', 'user_id', 'api_key_id', 'model'] },
  moderations: { object: 'organization.usage.moderations.result', groups: ['project_id', 'user_id', 'api_key_id', 'model'] },
  images: { object: 'organization.usage.images.result', groups: ['project_id', 'user_id', 'api_key_id', 'model', 'size', 'source'] },
  audio_speeches: { object: 'organization.usage.audio_speeches.result', groups: ['project_id', 'user_id', 'api_key_id', 'model'] },
  audio_transcriptions: { object: 'organization.usage.audio_transcriptions.result', groups: ['project_id', 'user_id', 'api_key_id', 'model'] },
};
const COST_GROUPS = ['project_id', 'line_item', 'api_key_id'];

const state = {
  projects: {},
  default_project: 'proj_default',
  extra: [],
  fail: null,
  page_max: null,
  amount_as_string: false,
  log: [],
  stamps: new Map(), // fake log seq -> Unix s first seen
};

function endpointOf(p) {
  if (p === '/v1/chat/completions' || p === '/v1/completions' || p === '/v1/responses') return 'completions';
  if (p === '/v1/embeddings') return 'embeddings';
  if (p === '/v1/moderations') return 'moderations';
  if (p.startsWith('/v1/images/')) return 'images';
  if (p === '/v1/audio/speech') return 'audio_speeches';
  if (p === '/v1/audio/transcriptions' || p === '/v1/audio/translations') return 'audio_transcriptions';
  return null;
}

// Every usage record: served traffic from the log plus injected extra.
function records(logPath) {
  const out = [];
  const now = Math.floor(Date.now() / 1000);
  let lines = [];
  try { lines = fs.readFileSync(logPath, 'utf8').split('\n').filter(Boolean); } catch { /* no log yet */ }
  for (const l of lines) {
    let e;
    try { e = JSON.parse(l); } catch { continue; }
    if (e.method !== 'POST' || e.status !== 200 || !e.usage || e.aborted) continue;
    const ep = endpointOf(String(e.path).split('?')[0]);
    if (!ep) continue;
    if (!state.stamps.has(e.seq)) state.stamps.set(e.seq, now);
    const u = e.usage;
    const auth = e.headers?.authorization_sha256 ?? null;
    out.push({
      endpoint: ep, ts: state.stamps.get(e.seq), model: e.model,
      project_id: (auth && state.projects[auth]) || state.default_project,
      requests: 1,
      input_tokens: u.input_tokens ?? 0, cached_tokens: u.cached_tokens ?? 0, output_tokens: u.output_tokens ?? 0,
      images: u.images ?? 0, characters: u.characters ?? 0, seconds: u.seconds ?? 0,
    });
  }
  for (const x of state.extra) {
    out.push({ endpoint: 'completions', requests: 1, input_tokens: 0, cached_tokens: 0, output_tokens: 0,
      images: 0, characters: 0, seconds: 0, project_id: state.default_project, ts: now, ...x });
  }
  return out;
}

// --- prices (nano-USD per 1M tokens, exact) --------------------------------

function nanoPerM(dec) {
  if (dec === undefined || dec === null) return null;
  const [w, f = ''] = String(dec).split('.');
  return BigInt(w) * 1000000000n + BigInt((f + '000000000').slice(0, 9));
}

function priceOf(model) {
  const p = PRICES[model] ?? PRICES[String(model).replace(/-\d{4}-\d{2}-\d{2}$/, '')];
  if (!p || p.input === undefined) return null;
  const input = nanoPerM(p.input);
  return { input, cached: nanoPerM(p.cached_input) ?? input, output: nanoPerM(p.output) ?? 0n };
}

// [{line_item, project_id, nano, quantity}] for one record.
function costLines(r) {
  if (r.endpoint !== 'completions' && r.endpoint !== 'embeddings') return [];
  const pr = priceOf(r.model);
  if (!pr) return [];
  const cached = BigInt(Math.min(r.cached_tokens, r.input_tokens));
  const uncached = BigInt(r.input_tokens) - cached;
  const lines = [{ item: 'input', q: uncached, rate: pr.input }];
  if (cached > 0n) lines.push({ item: 'cached input', q: cached, rate: pr.cached });
  if (r.endpoint === 'completions') lines.push({ item: 'output', q: BigInt(r.output_tokens), rate: pr.output });
  return lines.filter((l) => l.q > 0n).map((l) => ({
    line_item: `${r.model}, ${l.item}`, project_id: r.project_id, nano: (l.q * l.rate) / 1000000n, quantity: Number(l.q),
  }));
}

// --- requests --------------------------------------------------------------

function badParam(h, ctx, message, param) {
  return h.sendError(ctx, 400, h.errorBody(message, 'invalid_request_error', param, null));
}

function parseQuery(req) {
  const u = new URL(req.url, 'https://fake.invalid');
  const q = u.searchParams;
  const many = (name) => [...q.getAll(name), ...q.getAll(name + '[]')].flatMap((v) => v.split(',')).filter(Boolean);
  return { q, many };
}

// The buckets of [start, end) for width w, and the page of them asked for.
function paginate(h, ctx, q, widthName, defaultWidth, limits = null) {
  const start = Number(q.get('start_time'));
  if (!q.has('start_time') || !Number.isInteger(start) || start < 0) {
    badParam(h, ctx, "Missing or invalid required parameter: 'start_time'.", 'start_time');
    return null;
  }
  const end = q.has('end_time') ? Number(q.get('end_time')) : Math.floor(Date.now() / 1000);
  if (!Number.isInteger(end) || end <= start) {
    badParam(h, ctx, "Invalid 'end_time': it must be an integer after 'start_time'.", 'end_time');
    return null;
  }
  const bw = widthName ?? defaultWidth;
  if (!WIDTHS[bw]) {
    badParam(h, ctx, `Invalid 'bucket_width': '${bw}'.`, 'bucket_width');
    return null;
  }
  const [def, max] = limits ?? LIMITS[bw];
  const limit = q.has('limit') ? Number(q.get('limit')) : def;
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    badParam(h, ctx, `Invalid 'limit': must be between 1 and ${max} for bucket_width ${bw}.`, 'limit');
    return null;
  }
  let offset = 0;
  if (q.has('page')) {
    const m = /^page_(\d+)_(\d+)$/.exec(Buffer.from(q.get('page'), 'base64url').toString('latin1'));
    if (!m || Number(m[2]) !== start) {
      badParam(h, ctx, "Invalid 'page' cursor.", 'page');
      return null;
    }
    offset = Number(m[1]);
  }
  const w = WIDTHS[bw];
  const total = Math.ceil((end - start) / w);
  const per = state.page_max ? Math.min(limit, state.page_max) : limit;
  const buckets = [];
  for (let i = offset; i < Math.min(total, offset + per); i++) {
    buckets.push({ start: start + i * w, end: Math.min(end, start + (i + 1) * w) });
  }
  const next = offset + per < total ? Buffer.from(`page_${offset + per}_${start}`).toString('base64url') : null;
  return { buckets, next };
}

function groupKey(obj, groups) { return JSON.stringify(groups.map((g) => obj[g] ?? null)); }

function usageResult(kind, groups, recs) {
  const spec = USAGE_KINDS[kind];
  const r = { object: spec.object };
  const sum = (f) => recs.reduce((s, x) => s + (x[f] ?? 0), 0);
  if (kind === 'completions') {
    Object.assign(r, { input_tokens: sum('input_tokens'), input_cached_tokens: sum('cached_tokens'),
      output_tokens: sum('output_tokens'), input_audio_tokens: 0, output_audio_tokens: 0 });
  } else if (kind === 'embeddings' || kind === 'moderations') {
    r.input_tokens = sum('input_tokens');
  } else if (kind === 'images') {
    r.images = sum('images');
  } else if (kind === 'audio_speeches') {
    r.characters = sum('characters');
  } else {
    r.seconds = sum('seconds');
  }
  r.num_model_requests = sum('requests');
  for (const g of spec.groups) r[g] = groups.includes(g) ? (recs[0][g] ?? null) : null;
  return r;
}

function usage(ctx, req, kind, h) {
  const { q, many } = parseQuery(req);
  const page = paginate(h, ctx, q, q.get('bucket_width'), '1d');
  if (!page) return;
  const groups = many('group_by');
  for (const g of groups) {
    if (!USAGE_KINDS[kind].groups.includes(g)) return badParam(h, ctx, `Invalid 'group_by' value: '${g}'.`, 'group_by');
  }
  const models = many('models'), projects = many('project_ids');
  const recs = records(h.logPath).filter((r) => r.endpoint === kind &&
    (!models.length || models.includes(r.model)) && (!projects.length || projects.includes(r.project_id)));
  const data = page.buckets.map((b) => {
    const inside = recs.filter((r) => r.ts >= b.start && r.ts < b.end);
    const by = new Map();
    for (const r of inside) {
      const k = groupKey(r, groups);
      if (!by.has(k)) by.set(k, []);
      by.get(k).push(r);
    }
    return { object: 'bucket', start_time: b.start, end_time: b.end,
      results: [...by.values()].map((rs) => usageResult(kind, groups, rs)) };
  });
  return h.sendJson(ctx, 200, { object: 'page', data, has_more: page.next !== null, next_page: page.next },
    { usage: null, model: null });
}

function costs(ctx, req, h) {
  const { q, many } = parseQuery(req);
  if (q.has('bucket_width') && q.get('bucket_width') !== '1d') {
    return badParam(h, ctx, "Invalid 'bucket_width': the Costs endpoint supports only '1d'.", 'bucket_width');
  }
  if (q.has('limit') && !(Number(q.get('limit')) >= 1 && Number(q.get('limit')) <= 180)) {
    return badParam(h, ctx, "Invalid 'limit': must be between 1 and 180.", 'limit');
  }
  const page = paginate(h, ctx, q, '1d', '1d', [7, 180]); // Costs: limit 1-180
  if (!page) return;
  const groups = many('group_by');
  for (const g of groups) {
    if (!COST_GROUPS.includes(g)) return badParam(h, ctx, `Invalid 'group_by' value: '${g}'.`, 'group_by');
  }
  const projects = many('project_ids');
  const recs = records(h.logPath).filter((r) => !projects.length || projects.includes(r.project_id));
  const data = page.buckets.map((b) => {
    const lines = recs.filter((r) => r.ts >= b.start && r.ts < b.end).flatMap(costLines);
    const by = new Map();
    for (const l of lines) {
      const k = groupKey(l, groups);
      const cur = by.get(k) ?? { ...l, nano: 0n, quantity: 0 };
      cur.nano += l.nano;
      cur.quantity += l.quantity;
      by.set(k, cur);
    }
    const results = [...by.values()].map((l) => {
      const usd = Number(l.nano) / 1e9;
      return {
        object: 'organization.costs.result',
        amount: { value: state.amount_as_string ? (Number(l.nano) / 1e9).toFixed(9) : usd, currency: 'usd' },
        line_item: groups.includes('line_item') ? l.line_item : null,
        project_id: groups.includes('project_id') ? l.project_id : null,
        api_key_id: null,
        quantity: groups.includes('line_item') ? l.quantity : null,
        quantity_unit: groups.includes('line_item') ? 'tokens' : null,
      };
    });
    return { object: 'bucket', start_time: b.start, end_time: b.end, results };
  });
  return h.sendJson(ctx, 200, { object: 'page', data, has_more: page.next !== null, next_page: page.next },
    { usage: null, model: null });
}

function control(ctx, req, pathname, h) {
  if (pathname === '/v1/organization/fake/log' && req.method === 'GET') {
    return h.sendJson(ctx, 200, { requests: state.log }, { usage: null, model: null });
  }
  if (pathname === '/v1/organization/fake/reset' && req.method === 'POST') {
    Object.assign(state, { extra: [], fail: null, log: [], page_max: null, amount_as_string: false });
    return h.sendJson(ctx, 200, { ok: true }, { usage: null, model: null });
  }
  if (pathname === '/v1/organization/fake/config' && req.method === 'POST') {
    let c;
    try { c = JSON.parse(Buffer.from(h.raw ?? '').toString('utf8')); } catch { c = null; }
    if (!c || typeof c !== 'object') return badParam(h, ctx, 'config body must be a JSON object', null);
    if (c.projects) Object.assign(state.projects, c.projects);
    if ('default_project' in c) state.default_project = c.default_project;
    if (Array.isArray(c.extra)) state.extra.push(...c.extra);
    if ('fail' in c) state.fail = c.fail ? { status: 429, retry_after: '1', ...c.fail } : null;
    if ('page_max' in c) state.page_max = c.page_max;
    if ('amount_as_string' in c) state.amount_as_string = !!c.amount_as_string;
    return h.sendJson(ctx, 200, { ok: true }, { usage: null, model: null });
  }
  return null;
}

function failKnob(ctx, h) {
  const f = state.fail;
  if (!f || f.count <= 0) return false;
  f.count--;
  if (f.status === 429) {
    ctx.res.setHeader('retry-after', String(f.retry_after));
    h.sendError(ctx, 429, h.errorBody('Rate limit reached for organization usage requests. Please try again in 1s.',
      'requests', null, 'rate_limit_exceeded'));
  } else {
    h.sendError(ctx, f.status, h.errorBody('The server had an error while processing your request. Sorry about that!',
      'server_error', null, null));
  }
  return true;
}

export function organization(ctx, req, pathname, h) {
  if (pathname.startsWith('/v1/organization/fake/')) {
    const r = control(ctx, req, pathname, h);
    if (r !== null) return r;
  }
  const entry = { t_ms: Date.now(), method: req.method, path: req.url, status: null };
  state.log.push(entry);
  ctx.res.on('finish', () => { entry.status = ctx.res.statusCode; });
  const auth = String(req.headers.authorization ?? '');
  const key = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  if (!key.startsWith('sk-admin-')) {
    const shown = key.length > 8 ? `${key.slice(0, 8)}${'*'.repeat(12)}${key.slice(-4)}` : key;
    return h.sendError(ctx, 401, h.errorBody(
      `Incorrect API key provided: ${shown}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      'invalid_request_error', null, 'invalid_api_key'));
  }
  if (failKnob(ctx, h)) return undefined;
  const m = /^\/v1\/organization\/usage\/([a-z_]+)$/.exec(pathname);
  if (req.method === 'GET' && m && USAGE_KINDS[m[1]]) {
    return usage(ctx, req, m[1], h);
  }
  if (req.method === 'GET' && pathname === '/v1/organization/costs') {
    return costs(ctx, req, h);
  }
  return h.sendError(ctx, 404, h.errorBody(
    `Unknown request URL: ${req.method} ${pathname}. Please check the URL for typos, or see the docs at https://platform.openai.com/docs/api-reference/.`,
    'invalid_request_error', null, 'unknown_url'));
}
