#!/usr/bin/env node
// tests/fake/upstream.mjs -- a fake OpenAI API server for the tollgate test suite.
//
// WHAT IT IS
//   An HTTPS (HTTP/1.1, keep-alive) server that imitates api.openai.com closely
//   enough for a metering proxy to be tested against it: the same JSON shapes,
//   the same SSE framing (data-only for chat/completions, named events for
//   /v1/responses), the same usage objects, headers and error bodies as
//   described in shared/reference/openai-wire.md (sections 1, 2, 3.1, 3.2, 6).
//   Only Node 20 built-in modules are used.
//
// HOW IT IS DRIVEN
//   node tests/fake/upstream.mjs --port P --cert CERT.pem --key KEY.pem \
//        --log LOGFILE [--host 127.0.0.1]
//   --port 0 picks a free port. Once listening it prints exactly one line
//   "listening <port>" on stdout and then stays quiet on stdout (diagnostics go
//   to stderr). SIGTERM / SIGINT exit cleanly with status 0. Only loopback
//   addresses may be bound, unless --netns says the fake runs inside a
//   network namespace that a test created for itself (the sidecar topology
//   test), where any address of that namespace is allowed.
//
// ENDPOINTS
//   POST /v1/chat/completions   chat.completion / chat.completion.chunk (SSE)
//   POST /v1/completions        text_completion (+ SSE)
//   POST /v1/embeddings         list of embeddings (float or base64)
//   POST /v1/responses          Response object / named-event SSE
//   GET  /v1/models, GET /v1/models/{id}
//   POST /v1/audio/speech, /v1/audio/transcriptions, /v1/audio/translations
//   POST /v1/images/generations, /v1/images/edits, /v1/images/variations
//   GET  /v1/responses/{id}[?stream=true] (background), POST /v1/batches, GET /v1/batches/{id}
//   POST /v1/moderations (no usage), POST /v1/files (multipart), POST /v1/vector_stores
//   GET  /v1/organization/usage/*, /v1/organization/costs (tests/fake/org.mjs)
//   GET with Upgrade: websocket  101, then an echo of every byte
//   anything else               404 {"error":{...,"code":"unknown_url"}}
//   body not a JSON object      400 invalid_request_error
//   no "model" in a POST body   400 invalid_request_error ("you must provide a model parameter")
//
// LOG FILE
//   One JSON object per line (appended) for every request received:
//   {seq, method, path, status, stream, include_usage, request_model, model,
//    usage:{input_tokens,cached_tokens,output_tokens,reasoning_tokens,
//           audio_input_tokens,audio_output_tokens}|null,
//    x_request_id, headers:{host, accept-encoding, content-length,
//    transfer-encoding, authorization_sha256, x-tollgate-workspace, connection},
//    content_encoding, body_sha256, aborted, conn, tls_resumed}
//   conn numbers the TLS connections the fake accepted (1, 2, ...), so a
//   test sees keep-alive reuse; tls_resumed is whether that connection's
//   handshake resumed an earlier TLS session.
//   The line is written synchronously just BEFORE the last bytes of the
//   response are handed to the socket, so a client that has read the whole
//   response always finds its line in the file. For x-fake-hang and
//   x-fake-reset-after the line is written when the request (body) has
//   arrived, with status null and usage null. If the client goes away before
//   the response is complete, the line is written at that moment with
//   "aborted": true (usage is then null unless the usage-carrying SSE event had
//   already been written). "stream" is the request's stream flag.
//
// TOKEN COUNTS (the numbers put into the body are exactly the ones logged)
//   base input  = max(1, ceil(B / 4)), B = UTF-8 byte length of every string
//                 found (recursively) in the request's messages / input / prompt
//                 fields, except values of keys "role" and "type"; an integer in
//                 those fields (token arrays) counts as 4 bytes.
//   words       = generated words per choice (default reply: 5 words).
//   chat/completions:  prompt_tokens     = base input + audio_in
//                      completion_tokens = n * words + reasoning + audio_out
//   responses:         input_tokens  = base input
//                      output_tokens = words + reasoning   (audio knobs ignored)
//   embeddings:        prompt_tokens = total_tokens = base input
//   cached_tokens is clamped to the prompt/input total.
//
// KNOBS (request headers)
//   x-fake-input-tokens: N      base input tokens (replaces the estimate)
//   x-fake-output-tokens: N     reply with N words "w1 w2 ... wN" (per choice)
//   x-fake-cached: N            cached_tokens (clamped to the input total)
//   x-fake-reasoning: N         reasoning_tokens, added to the output total
//   x-fake-audio-in: N          prompt_tokens_details.audio_tokens, added to prompt_tokens
//   x-fake-audio-out: N         completion_tokens_details.audio_tokens, added to completion_tokens
//   x-fake-model: NAME          force the response model
//   x-fake-service-tier: T      service_tier in chat/responses bodies (default "default")
//   x-fake-status: CODE         (CODE >= 400) reply with an OpenAI-shaped error, no usage
//   x-fake-chunked: 1           non-stream body with Transfer-Encoding: chunked
//   x-fake-pretty: 1            pretty-printed non-stream JSON
//   x-fake-trap: 1              reply text / every delta contains the literal text
//                               "usage":{"prompt_tokens":999} and data: [DONE]
//   x-fake-split: N             write the body in N-byte pieces, one res.write each,
//                               with a setImmediate pause between them
//   x-fake-split-delay-ms: M    with x-fake-split: pause M ms instead of setImmediate
//   x-fake-event-delay-ms: N    SSE: wait N ms between events
//   x-fake-delay-ms: N          wait N ms before sending the response head
//   x-fake-hang: 1              never respond (socket kept open)
//   x-fake-reset-after: N       send the head and N body bytes (after compression,
//                               excluding chunk framing), then destroy the socket
//                               (if the body is shorter than N, all of it is sent
//                               and the socket is destroyed instead of ended)
//   x-fake-close: 1             "Connection: close" and close after the response
//   x-fake-embedding-count: K   force K embeddings (huge bodies are written in pieces)
//   x-fake-terminal: incomplete|failed   /v1/responses terminal state (stream and non-stream)
//   x-fake-done: 1              /v1/responses stream: append "data: [DONE]"
//   x-fake-crlf: 1              SSE lines end in CRLF instead of LF (legal)
//
// DETERMINISM
//   Identical requests (path, body bytes, x-fake-* headers) give byte-identical
//   bodies: ids and "created" come from sha256(request body). Only headers
//   (x-request-id, openai-processing-ms, date) differ between two such requests.
//
// COMPRESSION
//   Accept-Encoding is honoured with q-values: gzip or deflate (zlib format),
//   whichever has the higher q (gzip on a tie; "*" counts for both); brotli and
//   zstd are never used; otherwise identity. Streams are compressed too, with a
//   Z_SYNC_FLUSH after each event.

import https from 'node:https';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { organization } from './org.mjs';

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

function usage(msg) {
  process.stderr.write(`upstream.mjs: ${msg}\n` +
    'usage: node upstream.mjs --port P --cert CERT.pem --key KEY.pem --log LOGFILE [--host 127.0.0.1]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: null, cert: null, key: null, log: null, netns: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--netns') { opts.netns = true; continue; }
    const m = /^--(port|cert|key|log|host)(?:=(.*))?$/.exec(a);
    if (!m) usage(`unknown argument ${a}`);
    const val = m[2] !== undefined ? m[2] : argv[++i];
    if (val === undefined) usage(`missing value for --${m[1]}`);
    opts[m[1]] = val;
  }
  if (opts.port === null || !opts.cert || !opts.key || !opts.log) usage('missing required option');
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad port ${opts.port}`);
  opts.port = port;
  const h = opts.host.toLowerCase();
  if (!opts.netns && !(h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h))) {
    usage(`refusing to bind non-loopback host ${opts.host}`);
  }
  return opts;
}

const OPTS = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------
// Constants and small helpers
// ---------------------------------------------------------------------------

const MODEL_SNAPSHOTS = {
  'gpt-4o-mini': 'gpt-4o-mini-2024-07-18',
  'gpt-4o': 'gpt-4o-2024-08-06',
  'gpt-4.1': 'gpt-4.1-2025-04-14',
  'gpt-4.1-mini': 'gpt-4.1-mini-2025-04-14',
  'gpt-5': 'gpt-5-2025-08-07',
  'gpt-5-mini': 'gpt-5-mini-2025-08-07',
  'o3': 'o3-2025-04-16',
  'o4-mini': 'o4-mini-2025-04-16',
  'gpt-3.5-turbo-instruct': 'gpt-3.5-turbo-instruct',
  'text-embedding-3-small': 'text-embedding-3-small',
  'text-embedding-3-large': 'text-embedding-3-large',
};

const DEFAULT_WORDS = ['Hello', 'from', 'the', 'fake', 'upstream.'];
const TRAP_TEXT = ' "usage":{"prompt_tokens":999}\n\ndata: [DONE]\n\n';
const RATE_LIMIT_REQUESTS = 10000;
const RATE_LIMIT_TOKENS = 30000000;
// Per-process nonce so x-request-id stays unique across several fake instances.
const PROCESS_NONCE = crypto.randomBytes(4).toString('hex');

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const immediate = () => new Promise((r) => setImmediate(r));

// Parse a non-negative integer knob header; null when absent or malformed.
function intHeader(req, name) {
  const v = req.headers[name];
  if (v === undefined) return null;
  const s = String(v).trim();
  if (!/^\d+$/.test(s)) return null;
  return Number(s);
}

function flagHeader(req, name) {
  const v = req.headers[name];
  return v !== undefined && /^(1|true|yes|on)$/i.test(String(v).trim());
}

function readKnobs(req) {
  const split = intHeader(req, 'x-fake-split');
  const term = String(req.headers['x-fake-terminal'] || '').trim().toLowerCase();
  return {
    inputTokens: intHeader(req, 'x-fake-input-tokens'),
    outputTokens: intHeader(req, 'x-fake-output-tokens'),
    cached: intHeader(req, 'x-fake-cached'),
    reasoning: intHeader(req, 'x-fake-reasoning'),
    audioIn: intHeader(req, 'x-fake-audio-in'),
    audioOut: intHeader(req, 'x-fake-audio-out'),
    model: req.headers['x-fake-model'] ? String(req.headers['x-fake-model']) : null,
    serviceTier: req.headers['x-fake-service-tier'] ? String(req.headers['x-fake-service-tier']) : null,
    status: intHeader(req, 'x-fake-status'),
    chunked: flagHeader(req, 'x-fake-chunked'),
    pretty: flagHeader(req, 'x-fake-pretty'),
    trap: flagHeader(req, 'x-fake-trap'),
    split: split && split > 0 ? split : null,
    splitDelayMs: intHeader(req, 'x-fake-split-delay-ms'),
    eventDelayMs: intHeader(req, 'x-fake-event-delay-ms'),
    delayMs: intHeader(req, 'x-fake-delay-ms'),
    hang: flagHeader(req, 'x-fake-hang'),
    resetAfter: intHeader(req, 'x-fake-reset-after'),
    close: flagHeader(req, 'x-fake-close'),
    embeddingCount: intHeader(req, 'x-fake-embedding-count'),
    terminal: term === 'incomplete' || term === 'failed' ? term : null,
    done: flagHeader(req, 'x-fake-done'),
    crlf: flagHeader(req, 'x-fake-crlf'),
  };
}

// Choose the response encoding from Accept-Encoding: "gzip", "deflate" or null.
function negotiateEncoding(header) {
  if (!header) return null;
  const q = new Map();
  for (const part of String(header).split(',')) {
    const [rawName, ...params] = part.split(';');
    let name = rawName.trim().toLowerCase();
    if (!name) continue;
    if (name === 'x-gzip') name = 'gzip';
    let qv = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) qv = Number(m[1]);
    }
    if (Number.isNaN(qv)) qv = 0;
    q.set(name, Math.max(q.get(name) ?? 0, qv));
  }
  const qOf = (enc) => (q.has(enc) ? q.get(enc) : (q.get('*') ?? 0));
  const g = qOf('gzip');
  const d = qOf('deflate');
  if (g <= 0 && d <= 0) return null;
  return g >= d ? 'gzip' : 'deflate';
}

function makeCompressor(kind) {
  return kind === 'gzip' ? zlib.createGzip() : zlib.createDeflate();
}

// Compress a list of buffers in one go; returns the compressed output chunks.
function compressAll(pieces, kind) {
  return new Promise((resolve, reject) => {
    const z = makeCompressor(kind);
    const out = [];
    z.on('data', (c) => out.push(c));
    z.on('error', reject);
    z.on('end', () => resolve(out));
    for (const p of pieces) z.write(p);
    z.end();
  });
}

// Incremental compressor for SSE: every push() returns the bytes produced for
// that event after a Z_SYNC_FLUSH, so each event can leave on its own.
class StreamEncoder {
  constructor(kind) {
    this.z = makeCompressor(kind);
    this.out = [];
    this.z.on('data', (c) => this.out.push(c));
    this.z.on('error', (e) => process.stderr.write(`upstream.mjs: zlib error: ${e.message}\n`));
    this.ended = new Promise((r) => this.z.on('end', r));
  }
  take() {
    const b = Buffer.concat(this.out);
    this.out = [];
    return b;
  }
  async push(buf) {
    this.z.write(buf);
    await new Promise((r) => this.z.flush(zlib.constants.Z_SYNC_FLUSH, r));
    await immediate(); // let any 'data' events queued on nextTick run
    return this.take();
  }
  async finish() {
    this.z.end();
    await this.ended;
    return this.take();
  }
  destroy() { this.z.destroy(); }
}

// Cut a buffer into pieces of at most n bytes (n null: one piece).
function splitBuffer(buf, n) {
  if (!n || buf.length <= n) return [buf];
  const pieces = [];
  for (let i = 0; i < buf.length; i += n) pieces.push(buf.subarray(i, i + n));
  return pieces;
}

// ---------------------------------------------------------------------------
// Token accounting
// ---------------------------------------------------------------------------

// UTF-8 bytes of all strings under v, skipping values of "role" and "type".
function contentBytes(v, key) {
  if (typeof v === 'string') return key === 'role' || key === 'type' ? 0 : Buffer.byteLength(v, 'utf8');
  if (typeof v === 'number') return 4; // token ids in tokenised prompts
  if (Array.isArray(v)) return v.reduce((s, x) => s + contentBytes(x, null), 0);
  if (v && typeof v === 'object') {
    let s = 0;
    for (const [k, x] of Object.entries(v)) s += contentBytes(x, k);
    return s;
  }
  return 0;
}

function estimateInputTokens(body) {
  let bytes = 0;
  for (const f of ['messages', 'input', 'prompt']) {
    if (body[f] !== undefined) bytes += contentBytes(body[f], null);
  }
  return Math.max(1, Math.ceil(bytes / 4));
}

// Internal usage record; also exactly the log's "usage" object.
function computeUsage(ctx, body, generatedWords, { audio = true, output = true } = {}) {
  const k = ctx.knobs;
  const base = k.inputTokens ?? estimateInputTokens(body);
  const audioIn = audio ? (k.audioIn ?? 0) : 0;
  const audioOut = audio && output ? (k.audioOut ?? 0) : 0;
  const reasoning = output ? (k.reasoning ?? 0) : 0;
  const input = base + audioIn;
  return {
    input_tokens: input,
    cached_tokens: Math.min(k.cached ?? 0, input),
    output_tokens: output ? generatedWords + reasoning + audioOut : 0,
    reasoning_tokens: reasoning,
    audio_input_tokens: audioIn,
    audio_output_tokens: audioOut,
  };
}

function chatUsage(u) {
  return {
    prompt_tokens: u.input_tokens,
    completion_tokens: u.output_tokens,
    total_tokens: u.input_tokens + u.output_tokens,
    prompt_tokens_details: { cached_tokens: u.cached_tokens, audio_tokens: u.audio_input_tokens },
    completion_tokens_details: {
      reasoning_tokens: u.reasoning_tokens,
      audio_tokens: u.audio_output_tokens,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function responsesUsage(u) {
  return {
    input_tokens: u.input_tokens,
    input_tokens_details: { cached_tokens: u.cached_tokens },
    output_tokens: u.output_tokens,
    output_tokens_details: { reasoning_tokens: u.reasoning_tokens },
    total_tokens: u.input_tokens + u.output_tokens,
  };
}

// The generated reply as a list of deltas (their concatenation is the text).
function replyDeltas(ctx) {
  const n = ctx.knobs.outputTokens;
  const words = n === null ? DEFAULT_WORDS : Array.from({ length: n }, (_, i) => `w${i + 1}`);
  return words.map((w, i) => (i === 0 ? w : ' ' + w) + (ctx.knobs.trap ? TRAP_TEXT : ''));
}

// ---------------------------------------------------------------------------
// Deterministic identity of a response
// ---------------------------------------------------------------------------

function responseModel(ctx, requestModel) {
  if (ctx.knobs.model) return ctx.knobs.model;
  return MODEL_SNAPSHOTS[requestModel] ?? requestModel;
}

function ids(ctx) {
  const h = (label) => sha256(`${ctx.bodySha}:${label}`);
  return {
    h,
    created: 1700000000 + (parseInt(ctx.bodySha.slice(0, 8), 16) % 60000000),
  };
}

const fingerprint = (model) => 'fp_' + sha256(`fp:${model}`).slice(0, 10);

// ---------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------

function writeLog(ctx, { status, usage, model, aborted = false }) {
  if (ctx.logged) return;
  ctx.logged = true;
  const h = ctx.req.headers;
  const line = {
    seq: ctx.seq,
    method: ctx.req.method,
    path: ctx.req.url,
    status,
    stream: ctx.body?.stream === true,
    include_usage: ctx.body?.stream_options?.include_usage ?? null,
    request_model: typeof ctx.body?.model === 'string' ? ctx.body.model : null,
    model: model ?? null,
    usage: usage ?? null,
    x_request_id: ctx.requestId,
    headers: {
      'host': h.host ?? null,
      'accept-encoding': h['accept-encoding'] ?? null,
      'content-length': h['content-length'] ?? null,
      'transfer-encoding': h['transfer-encoding'] ?? null,
      'authorization_sha256': h.authorization !== undefined ? sha256(h.authorization) : null,
      'x-tollgate-workspace': h['x-tollgate-workspace'] ?? null,
      'connection': h.connection ?? null,
    },
    content_encoding: ctx.encoding,
    body_sha256: ctx.bodySha,
    aborted,
    conn: ctx.req.socket.fakeConn ?? null,
    tls_resumed: typeof ctx.req.socket.isSessionReused === 'function'
      ? ctx.req.socket.isSessionReused() : null,
  };
  try {
    fs.appendFileSync(OPTS.log, JSON.stringify(line) + '\n');
  } catch (e) {
    process.stderr.write(`upstream.mjs: cannot write log: ${e.message}\n`);
  }
}

// ---------------------------------------------------------------------------
// Output: Sink writes already-encoded body bytes, applying x-fake-split and
// x-fake-reset-after, honouring backpressure, and logging before the end.
// ---------------------------------------------------------------------------

class Sink {
  constructor(ctx) {
    this.ctx = ctx;
    this.res = ctx.res;
    this.sent = 0;       // body bytes handed to res.write so far
    this.finished = false;
  }

  get dead() { return this.finished || this.res.destroyed || this.res.writableEnded; }

  write(buf) {
    return new Promise((resolve) => {
      if (this.dead) return resolve();
      this.sent += buf.length;
      if (this.res.write(buf)) return resolve();
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  async pause() {
    const k = this.ctx.knobs;
    if (k.splitDelayMs) await sleep(k.splitDelayMs);
    else await immediate();
  }

  // Emit one unit of body bytes (one SSE event, or a piece of a JSON body).
  // When last is true the response is ended after it.
  async emit(buf, last) {
    if (this.dead) return;
    const k = this.ctx.knobs;
    let reset = false;
    if (k.resetAfter !== null) {
      const room = k.resetAfter - this.sent;
      if (buf.length >= room || last) {
        buf = buf.subarray(0, Math.max(0, room));
        reset = true;
      }
    }
    const pieces = buf.length ? splitBuffer(buf, k.split) : [];
    for (let i = 0; i < pieces.length; i++) {
      if (this.dead) return;
      if (k.split && this.sent > 0) await this.pause();
      if (this.dead) return;
      if (last && !reset && i === pieces.length - 1) return this.end(pieces[i]);
      await this.write(pieces[i]);
    }
    if (reset) return this.reset();
    if (last) return this.end(null);
  }

  end(buf) {
    if (this.dead) return;
    this.finished = true;
    const ctx = this.ctx;
    writeLog(ctx, { status: this.res.statusCode, usage: ctx.meta.usage, model: ctx.meta.model });
    if (buf) this.sent += buf.length;
    this.res.end(buf ?? undefined);
  }

  async reset() {
    this.finished = true;
    const socket = this.res.socket;
    this.res.flushHeaders(); // make sure the head leaves even with 0 body bytes
    await sleep(20); // let the head and the partial body leave first
    if (socket && !socket.destroyed) socket.destroy();
  }
}

function commonHeaders(ctx, inputTokens = 0) {
  const ms = Number(process.hrtime.bigint() - ctx.started) / 1e6;
  const h = {
    'x-request-id': ctx.requestId,
    'openai-processing-ms': String(Math.max(1, Math.round(ms))),
    'openai-version': '2020-10-01',
    'openai-organization': 'fake-org',
    'x-ratelimit-limit-requests': String(RATE_LIMIT_REQUESTS),
    'x-ratelimit-limit-tokens': String(RATE_LIMIT_TOKENS),
    'x-ratelimit-remaining-requests': String(RATE_LIMIT_REQUESTS - 1),
    'x-ratelimit-remaining-tokens': String(Math.max(0, RATE_LIMIT_TOKENS - inputTokens)),
    'x-ratelimit-reset-requests': '120ms',
    'x-ratelimit-reset-tokens': '6m0s',
  };
  if (ctx.encoding) h['content-encoding'] = ctx.encoding;
  h['vary'] = 'Accept-Encoding';
  if (ctx.knobs.close) h['connection'] = 'close';
  return h;
}

// Send a complete (non-SSE) body given as a list of buffers.
async function sendBody(ctx, status, contentType, pieces, meta) {
  ctx.meta = meta;
  const { res, knobs } = ctx;
  let body = ctx.encoding ? await compressAll(pieces, ctx.encoding) : pieces;
  const headers = { 'content-type': contentType, ...commonHeaders(ctx, meta.usage?.input_tokens ?? 0) };
  if (knobs.chunked) {
    // Several chunks: keep multi-piece bodies as they are, cut small ones in 3.
    if (body.length < 3) {
      const all = Buffer.concat(body);
      body = splitBuffer(all, Math.max(1, Math.ceil(all.length / 3)));
    }
  } else {
    headers['content-length'] = String(body.reduce((s, b) => s + b.length, 0));
  }
  if (res.destroyed) return;
  res.writeHead(status, headers);
  const sink = new Sink(ctx);
  for (let i = 0; i < body.length; i++) {
    if (knobs.chunked && i > 0 && !knobs.split) await immediate();
    await sink.emit(body[i], i === body.length - 1);
  }
  if (body.length === 0) await sink.emit(Buffer.alloc(0), true);
}

function sendJson(ctx, status, obj, meta) {
  const text = ctx.knobs.pretty ? JSON.stringify(obj, null, 2) : JSON.stringify(obj);
  return sendBody(ctx, status, 'application/json', [Buffer.from(text, 'utf8')], meta);
}

// Send an SSE stream. events: [{data: string, usage: bool}] (usage marks the
// event that carries the usage, for logging after an abort).
async function sendStream(ctx, events, meta) {
  ctx.meta = meta;
  const { res, knobs } = ctx;
  const headers = {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...commonHeaders(ctx, meta.usage?.input_tokens ?? 0),
  };
  if (res.destroyed) return;
  res.writeHead(200, headers);
  const enc = ctx.encoding ? new StreamEncoder(ctx.encoding) : null;
  res.on('close', () => enc?.destroy());
  const sink = new Sink(ctx);
  for (let i = 0; i < events.length; i++) {
    if (sink.dead) return;
    if (i > 0 && knobs.eventDelayMs) await sleep(knobs.eventDelayMs);
    const text = knobs.crlf ? events[i].data.replace(/\n/g, '\r\n') : events[i].data;
    const raw = Buffer.from(text, 'utf8');
    const last = !enc && i === events.length - 1;
    const out = enc ? await enc.push(raw) : raw;
    if (sink.dead) return;
    await sink.emit(out, last);
    if (events[i].usage) ctx.usageWritten = true;
  }
  if (enc && !sink.dead) await sink.emit(await enc.finish(), true);
}

const sseData = (obj) => `data: ${JSON.stringify(obj)}\n\n`;
const sseNamed = (obj) => `event: ${obj.type}\ndata: ${JSON.stringify(obj)}\n\n`;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

function errorBody(message, type, param = null, code = null) {
  return { error: { message, type, param, code } };
}

function fakeStatusError(status, model) {
  if (status === 401) {
    return errorBody('Incorrect API key provided: sk-fake***********1234. You can find your API key at https://platform.openai.com/account/api-keys.',
      'invalid_request_error', null, 'invalid_api_key');
  }
  if (status === 429) {
    return errorBody(`Rate limit reached for ${model || 'gpt-4o-mini'} in organization org-fake on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms. Visit https://platform.openai.com/account/rate-limits to learn more.`,
      'requests', null, 'rate_limit_exceeded');
  }
  if (status >= 500) {
    return errorBody('The server had an error while processing your request. Sorry about that!', 'server_error', null, null);
  }
  return errorBody(`Fake upstream error (status ${status}).`, 'invalid_request_error', null, null);
}

function sendError(ctx, status, body) {
  return sendJson(ctx, status, body, { usage: null, model: null });
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

function choiceCount(body) {
  const n = body.n;
  return Number.isInteger(n) && n >= 1 && n <= 128 ? n : 1;
}

async function chatCompletions(ctx) {
  const body = ctx.body;
  const { h, created } = ids(ctx);
  const id = 'chatcmpl-' + h('chatcmpl').slice(0, 29);
  const model = responseModel(ctx, body.model);
  const tier = ctx.knobs.serviceTier ?? 'default';
  const fp = fingerprint(model);
  const n = choiceCount(body);
  const deltas = replyDeltas(ctx);
  const text = deltas.join('');
  const u = computeUsage(ctx, body, n * deltas.length);
  const usage = chatUsage(u);

  if (body.stream !== true) {
    const obj = {
      id, object: 'chat.completion', created, model, service_tier: tier, system_fingerprint: fp,
      choices: Array.from({ length: n }, (_, i) => ({
        index: i,
        message: { role: 'assistant', content: text, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      })),
      usage,
    };
    return sendJson(ctx, 200, obj, { usage: u, model });
  }

  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choices) => {
    const o = { id, object: 'chat.completion.chunk', created, model, service_tier: tier, system_fingerprint: fp, choices };
    if (includeUsage) o.usage = null;
    return o;
  };
  const choice = (index, delta, finish = null) => ({ index, delta, logprobs: null, finish_reason: finish });
  const events = [];
  for (let i = 0; i < n; i++) events.push({ data: sseData(chunk([choice(i, { role: 'assistant', content: '' })])) });
  for (const d of deltas) {
    for (let i = 0; i < n; i++) events.push({ data: sseData(chunk([choice(i, { content: d })])) });
  }
  for (let i = 0; i < n; i++) events.push({ data: sseData(chunk([choice(i, {}, 'stop')])) });
  if (includeUsage) {
    const last = chunk([]);
    last.usage = usage;
    events.push({ data: sseData(last), usage: true });
  }
  events.push({ data: 'data: [DONE]\n\n' });
  return sendStream(ctx, events, { usage: includeUsage ? u : null, model });
}

async function completions(ctx) {
  const body = ctx.body;
  const { h, created } = ids(ctx);
  const id = 'cmpl-' + h('cmpl').slice(0, 29);
  const model = responseModel(ctx, body.model);
  const n = choiceCount(body);
  const deltas = replyDeltas(ctx);
  const text = deltas.join('');
  const u = computeUsage(ctx, body, n * deltas.length);
  const usage = chatUsage(u);

  if (body.stream !== true) {
    const obj = {
      id, object: 'text_completion', created, model,
      choices: Array.from({ length: n }, (_, i) => ({ text, index: i, logprobs: null, finish_reason: 'stop' })),
      usage,
    };
    return sendJson(ctx, 200, obj, { usage: u, model });
  }

  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choices) => {
    const o = { id, object: 'text_completion', created, model, choices };
    if (includeUsage) o.usage = null;
    return o;
  };
  const events = [];
  for (const d of deltas) {
    for (let i = 0; i < n; i++) {
      events.push({ data: sseData(chunk([{ text: d, index: i, logprobs: null, finish_reason: null }])) });
    }
  }
  for (let i = 0; i < n; i++) {
    events.push({ data: sseData(chunk([{ text: '', index: i, logprobs: null, finish_reason: 'stop' }])) });
  }
  if (includeUsage) {
    const last = chunk([]);
    last.usage = usage;
    events.push({ data: sseData(last), usage: true });
  }
  events.push({ data: 'data: [DONE]\n\n' });
  return sendStream(ctx, events, { usage: includeUsage ? u : null, model });
}

// Deterministic pseudo-random unit-ish vector, as JSON text and as float32s.
function embeddingVector(seedHex, dims) {
  let s = parseInt(seedHex.slice(0, 8), 16) >>> 0 || 0x9e3779b9;
  const f32 = new Float32Array(dims);
  const parts = new Array(dims);
  for (let i = 0; i < dims; i++) {
    // xorshift32
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    const x = ((s / 0x100000000) * 2 - 1) * 0.06;
    parts[i] = x.toFixed(9);
    f32[i] = Number(parts[i]);
  }
  return { json: '[' + parts.join(',') + ']', f32 };
}

async function embeddings(ctx) {
  const body = ctx.body;
  const model = responseModel(ctx, body.model);
  const input = body.input;
  let count;
  if (ctx.knobs.embeddingCount !== null) count = ctx.knobs.embeddingCount;
  else if (Array.isArray(input)) count = input.length > 0 && input.every((x) => typeof x === 'number') ? 1 : input.length;
  else count = 1;
  const dims = Number.isInteger(body.dimensions) && body.dimensions > 0 && body.dimensions <= 8192 ? body.dimensions : 1536;
  const base64 = body.encoding_format === 'base64';
  const u = computeUsage(ctx, body, 0, { audio: false, output: false });
  const usage = { prompt_tokens: u.input_tokens, total_tokens: u.input_tokens };

  // Vectors repeat with period 64 so that huge forced counts stay cheap.
  const cache = new Map();
  const vector = (i) => {
    const key = i % 64;
    if (!cache.has(key)) {
      const v = embeddingVector(sha256(`${ctx.bodySha}:emb:${key}`), dims);
      cache.set(key, base64 ? JSON.stringify(Buffer.from(v.f32.buffer).toString('base64')) : v.json);
    }
    return cache.get(key);
  };

  if (ctx.knobs.pretty) {
    const obj = {
      object: 'list',
      data: Array.from({ length: count }, (_, i) => ({ object: 'embedding', index: i, embedding: JSON.parse(vector(i)) })),
      model, usage,
    };
    return sendJson(ctx, 200, obj, { usage: u, model });
  }
  // Compact body built piece by piece (one buffer per embedding).
  const pieces = [Buffer.from('{"object":"list","data":[')];
  for (let i = 0; i < count; i++) {
    pieces.push(Buffer.from(`${i ? ',' : ''}{"object":"embedding","index":${i},"embedding":${vector(i)}}`));
  }
  pieces.push(Buffer.from(`],"model":${JSON.stringify(model)},"usage":${JSON.stringify(usage)}}`));
  return sendBody(ctx, 200, 'application/json', pieces, { usage: u, model });
}

async function responses(ctx) {
  const body = ctx.body;
  const { h, created } = ids(ctx);
  const respId = 'resp_' + h('resp').slice(0, 48);
  const msgId = 'msg_' + h('msg').slice(0, 48);
  const model = responseModel(ctx, body.model);
  const tier = ctx.knobs.serviceTier ?? 'default';
  const terminal = ctx.knobs.terminal; // null | 'incomplete' | 'failed'
  const deltas = replyDeltas(ctx);
  const text = deltas.join('');
  const u = computeUsage(ctx, body, deltas.length, { audio: false });
  const logUsage = terminal === 'failed' ? null : u;

  const response = (status, output, usage, extra = {}) => ({
    id: respId,
    object: 'response',
    created_at: created,
    status,
    background: false,
    error: extra.error ?? null,
    incomplete_details: extra.incomplete_details ?? null,
    instructions: null,
    max_output_tokens: null,
    model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: tier,
    store: true,
    temperature: 1.0,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1.0,
    truncation: 'disabled',
    usage,
    user: null,
    metadata: {},
  });
  const itemStatus = terminal === 'incomplete' ? 'incomplete' : 'completed';
  const part = (t) => ({ type: 'output_text', text: t, annotations: [] });
  const item = { id: msgId, type: 'message', status: itemStatus, role: 'assistant', content: [part(text)] };

  let final;
  if (terminal === 'failed') {
    final = response('failed', [], null, {
      error: { code: 'server_error', message: 'The model failed to generate a response (fake upstream).' },
    });
  } else if (terminal === 'incomplete') {
    final = response('incomplete', [item], responsesUsage(u), { incomplete_details: { reason: 'max_output_tokens' } });
  } else {
    final = response('completed', [item], responsesUsage(u));
  }

  // Background mode (openai-wire.md §3.3): answered "queued" without
  // usage; GET /v1/responses/{id} later shows the finished response.
  if (body.background === true && body.stream !== true) {
    backgroundResponses.set(respId, { final: { ...final, background: true }, usage: logUsage, model });
    if (backgroundResponses.size > 10000) backgroundResponses.delete(backgroundResponses.keys().next().value);
    const queued = { ...response('queued', [], null), background: true };
    return sendJson(ctx, 200, queued, { usage: null, model });
  }
  if (body.stream !== true) return sendJson(ctx, 200, final, { usage: logUsage, model });

  let seq = 0;
  const events = [];
  const ev = (type, fields, usage = false) => {
    events.push({ data: sseNamed({ type, sequence_number: seq++, ...fields }), usage });
  };
  const inProgress = response('in_progress', [], null);
  ev('response.created', { response: inProgress });
  ev('response.in_progress', { response: inProgress });
  ev('response.output_item.added', {
    output_index: 0,
    item: { id: msgId, type: 'message', status: 'in_progress', role: 'assistant', content: [] },
  });
  ev('response.content_part.added', { item_id: msgId, output_index: 0, content_index: 0, part: part('') });
  for (const d of deltas) {
    ev('response.output_text.delta', { item_id: msgId, output_index: 0, content_index: 0, delta: d, logprobs: [] });
  }
  if (terminal !== 'failed') {
    ev('response.output_text.done', { item_id: msgId, output_index: 0, content_index: 0, text, logprobs: [] });
    ev('response.content_part.done', { item_id: msgId, output_index: 0, content_index: 0, part: part(text) });
    ev('response.output_item.done', { output_index: 0, item });
  }
  ev(`response.${final.status}`, { response: final }, terminal !== 'failed');
  if (ctx.knobs.done) events.push({ data: 'data: [DONE]\n\n' });
  return sendStream(ctx, events, { usage: logUsage, model });
}

const MODEL_LIST_CREATED = 1715367049;

function modelObject(id) {
  return { id, object: 'model', created: MODEL_LIST_CREATED, owned_by: id.startsWith('ft:') ? 'fake-org' : 'system' };
}

function listModels(ctx) {
  const all = [...new Set([...Object.keys(MODEL_SNAPSHOTS), ...Object.values(MODEL_SNAPSHOTS)])].sort();
  return sendJson(ctx, 200, { object: 'list', data: all.map(modelObject) }, { usage: null, model: null });
}

function getModel(ctx, id) {
  const known = Object.keys(MODEL_SNAPSHOTS).includes(id) || Object.values(MODEL_SNAPSHOTS).includes(id);
  if (!known) {
    return sendError(ctx, 404, errorBody(`The model '${id}' does not exist`, 'invalid_request_error', 'model', 'model_not_found'));
  }
  return sendJson(ctx, 200, modelObject(id), { usage: null, model: null });
}

// POST /v1/audio/speech: binary audio with no usage (openai-wire.md §4.3),
// 64 deterministic bytes per character, Transfer-Encoding: chunked as
// OpenAI sends it.  The log's usage is {characters}: the code points of
// `input`, what tts-1 bills.  stream_format "sse" sends the audio as
// speech.audio.delta events and the token usage in speech.audio.done.
async function speech(ctx) {
  const body = ctx.body;
  const chars = typeof body.input === 'string' ? [...body.input].length : 0;
  const types = { mp3: 'audio/mpeg', opus: 'audio/opus', aac: 'audio/aac', flac: 'audio/flac',
    wav: 'audio/wav', pcm: 'audio/pcm' };
  const seed = crypto.createHash('sha256').update(`${ctx.bodySha}:speech`).digest();
  const audio = Buffer.alloc(Math.max(1, chars) * 64);
  for (let i = 0; i < audio.length; i++) audio[i] = seed[i % 32] ^ (i & 0xff);
  if (body.stream_format === 'sse') {
    // speech.audio.delta events, then speech.audio.done with token usage:
    // input ceil(chars / 4), output 10 audio tokens per character
    const usage = { input_tokens: Math.max(1, Math.ceil(chars / 4)), output_tokens: chars * 10 };
    usage.total_tokens = usage.input_tokens + usage.output_tokens;
    const events = splitBuffer(audio, 4096).map((b) => ({ data: sseNamed({ type: 'speech.audio.delta', audio: b.toString('base64') }) }));
    events.push({ data: sseNamed({ type: 'speech.audio.done', usage }), usage: true });
    return sendStream(ctx, events, { usage: { characters: chars, ...usage }, model: body.model });
  }
  ctx.knobs.chunked = true;
  return sendBody(ctx, 200, types[body.response_format] || 'audio/mpeg', splitBuffer(audio, 4096),
    { usage: { characters: chars }, model: body.model });
}

// POST /v1/images/generations, /edits (JSON or multipart) and /variations
// (multipart, dall-e-2 only) (openai-wire.md §4.4): dall-e answers carry no
// usage; `n` images (default 1) of `size`, as URLs or b64_json.  GPT-image
// models also get the token usage object (input x-fake-input-tokens,
// default 50, of which 10 text; output x-fake-output-tokens per image,
// default 4250), and with stream true two partial_image events and the
// completed event carrying the usage (image_generation.* or image_edit.*).
// The log's usage is {images, size, quality, source} (what dall-e bills)
// plus the token usage when sent.
async function images(ctx) {
  const body = ctx.body;
  const path = ctx.req.url.split('?')[0];
  const kind = path.endsWith('/edits') ? 'edit' : path.endsWith('/variations') ? 'variation' : 'generation';
  // multipart forms (edits, variations) carry every field as a string
  const num = Number(body.n);
  const n = Number.isInteger(num) && num > 0 ? num : 1;
  const model = typeof body.model === 'string' ? body.model : 'dall-e-2';
  if (kind !== 'generation') {
    const img = body.image ?? body['image[]'];
    if (!img || typeof img !== 'object') {
      return sendError(ctx, 400, errorBody("you must provide an 'image' file", 'invalid_request_error', 'image'));
    }
    if (kind === 'variation' && model !== 'dall-e-2') {
      return sendError(ctx, 400, errorBody('Invalid model: only dall-e-2 makes variations.', 'invalid_request_error', 'model'));
    }
  }
  const seed = sha256(`${ctx.bodySha}:image`);
  const data = Array.from({ length: n }, (_, i) => (body.response_format === 'b64_json' || model.startsWith('gpt-image')
    ? { b64_json: Buffer.from(`${seed}:${i}`.repeat(64)).toString('base64') }
    : { url: `https://fake-images.invalid/${seed.slice(0, 16)}/${i}.png`, revised_prompt: body.prompt ?? '' }));
  const obj = { created: 1713833628, data };
  const logged = { images: n, size: body.size ?? null, quality: body.quality ?? null, source: `image.${kind}` };
  if (!model.startsWith('gpt-image')) return sendJson(ctx, 200, obj, { usage: logged, model });
  const k = ctx.req.headers;
  const input = Number(k['x-fake-input-tokens'] ?? 50), out = Number(k['x-fake-output-tokens'] ?? 4250) * n;
  obj.usage = { total_tokens: input + out, input_tokens: input, output_tokens: out,
    input_tokens_details: { text_tokens: Math.min(10, input), image_tokens: input - Math.min(10, input) },
    output_tokens_details: { image_tokens: out, text_tokens: 0 } };
  logged.tokens = obj.usage;
  if (body.stream !== true && body.stream !== 'true') return sendJson(ctx, 200, obj, { usage: logged, model });
  // Streaming (openai-wire.md §4.4): partial images, then the completed
  // event, which carries the usage.
  const prefix = kind === 'edit' ? 'image_edit' : 'image_generation';
  const events = [];
  for (let i = 0; i < 2; i++) {
    events.push({ data: sseNamed({ type: `${prefix}.partial_image`, b64_json: data[0].b64_json.slice(0, 64),
      partial_image_index: i, created_at: 1713833628, size: body.size ?? '1024x1024', quality: body.quality ?? 'high',
      background: 'opaque', output_format: 'png' }) });
  }
  events.push({ data: sseNamed({ type: `${prefix}.completed`, b64_json: data[0].b64_json, created_at: 1713833628,
    size: body.size ?? '1024x1024', quality: body.quality ?? 'high', background: 'opaque', output_format: 'png',
    usage: obj.usage }), usage: true });
  return sendStream(ctx, events, { usage: logged, model });
}

// Batch API (openai-wire.md §5): POST /v1/batches answers "validating";
// GET /v1/batches/{id} is "in_progress" for the first
// x-fake-background-polls GETs, then "completed" with the batch's usage
// (x-fake-input-tokens / x-fake-output-tokens on the POST, default 1000 /
// 500) and model (x-fake-model, default gpt-4o-mini).  The log carries the
// usage on every GET that shows it.
const batches = new Map();
function createBatch(ctx) {
  const body = ctx.body;
  const { h, created } = ids(ctx);
  const id = 'batch_' + h('batch').slice(0, 32);
  const k = ctx.req.headers;
  const usage = { input_tokens: Number(k['x-fake-input-tokens'] ?? 1000),
    input_tokens_details: { cached_tokens: 0 }, output_tokens: Number(k['x-fake-output-tokens'] ?? 500),
    output_tokens_details: { reasoning_tokens: 0 } };
  usage.total_tokens = usage.input_tokens + usage.output_tokens;
  const batch = { id, object: 'batch', endpoint: body.endpoint ?? '/v1/chat/completions', errors: null,
    input_file_id: body.input_file_id ?? null, completion_window: body.completion_window ?? '24h',
    status: 'validating', output_file_id: null, error_file_id: null, created_at: created,
    request_counts: { total: 0, completed: 0, failed: 0 }, metadata: body.metadata ?? null,
    model: k['x-fake-model'] ?? 'gpt-4o-mini' };
  batches.set(id, { batch, usage });
  return sendJson(ctx, 200, batch, { usage: null, model: null });
}
function getBatch(ctx, id) {
  const b = batches.get(id);
  if (!b) return sendError(ctx, 404, errorBody(`No batch found with id '${id}'.`, 'invalid_request_error', null, 'not_found'));
  b.polls = (b.polls ?? 0) + 1;
  if (b.polls <= Number(ctx.req.headers['x-fake-background-polls'] ?? 0)) {
    return sendJson(ctx, 200, { ...b.batch, status: 'in_progress' }, { usage: null, model: null });
  }
  const done = { ...b.batch, status: 'completed', completed_at: b.batch.created_at + 60,
    request_counts: { total: 3, completed: 3, failed: 0 }, output_file_id: 'file-out', usage: b.usage };
  return sendJson(ctx, 200, done, { usage: { input_tokens: b.usage.input_tokens,
    cached_tokens: 0, output_tokens: b.usage.output_tokens, reasoning_tokens: 0 }, model: b.batch.model });
}

// GET /v1/responses/{id}: a background response made earlier.  It is
// "in_progress" for the first x-fake-background-polls GETs (default 0),
// then the finished response with its usage; the log carries that usage
// on every GET that shows it (the proxy must meter it once).
const backgroundResponses = new Map();
function getResponse(ctx, id) {
  const r = backgroundResponses.get(id);
  if (!r) {
    return sendError(ctx, 404, errorBody(`Response with id '${id}' not found.`, 'invalid_request_error', null, 'not_found'));
  }
  r.polls = (r.polls ?? 0) + 1;
  const wait = Number(ctx.req.headers['x-fake-background-polls'] ?? 0);
  const pending = r.polls <= wait;
  const now = pending ? { ...r.final, status: 'in_progress', output: [], usage: null } : r.final;
  if (!/[?&]stream=true(&|$)/.test(ctx.req.url)) {
    return sendJson(ctx, 200, now, { usage: pending ? null : r.usage, model: r.model });
  }
  // ?stream=true: the response's events; a finished one ends with its
  // terminal event (which carries the usage), a pending one stops early.
  let seq = 0;
  const ev = (type, fields, usage = false) => ({ data: sseNamed({ type, sequence_number: seq++, ...fields }), usage });
  const events = [ev('response.created', { response: { ...r.final, status: 'queued', output: [], usage: null } }),
    ev('response.in_progress', { response: { ...r.final, status: 'in_progress', output: [], usage: null } })];
  if (!pending) events.push(ev(`response.${r.final.status}`, { response: r.final }, true));
  return sendStream(ctx, events, { usage: pending ? null : r.usage, model: r.model });
}

// POST /v1/moderations (openai-wire.md §2): {id, model, results}; no
// usage object at all (moderation is free).
function moderations(ctx) {
  const { h } = ids(ctx);
  const inputs = Array.isArray(ctx.body.input) ? ctx.body.input : [ctx.body.input];
  const model = ctx.body.model === 'omni-moderation-latest' || !ctx.body.model
    ? 'omni-moderation-2024-09-26' : ctx.body.model;
  const results = inputs.map(() => ({ flagged: false, categories: { harassment: false, violence: false },
    category_scores: { harassment: 0.0001, violence: 0.0002 } }));
  return sendJson(ctx, 200, { id: 'modr-' + h('mod').slice(0, 24), model, results }, { usage: null, model });
}

// POST /v1/files (multipart: purpose, file) and the management endpoints
// that follow it, answered with plausible objects and never metered.
function uploadFile(ctx) {
  const { h, created } = ids(ctx);
  const f = ctx.body.file;
  return sendJson(ctx, 200, { id: 'file-' + h('file').slice(0, 24), object: 'file', bytes: f?.bytes?.length ?? 0,
    created_at: created, filename: f?.name ?? 'upload', purpose: ctx.body.purpose ?? 'batch', status: 'processed' },
  { usage: null, model: null });
}
function vectorStore(ctx) {
  const { h, created } = ids(ctx);
  return sendJson(ctx, 200, { id: 'vs_' + h('vs').slice(0, 24), object: 'vector_store', created_at: created,
    name: ctx.body.name ?? null, usage_bytes: 0, file_counts: { in_progress: 0, completed: 0, failed: 0, cancelled: 0, total: 0 },
    status: 'completed' }, { usage: null, model: null });
}

// POST /v1/audio/transcriptions and /translations (openai-wire.md §4.1,
// §4.2): multipart/form-data with model, file, response_format, stream.
// The audio's length comes from a WAV file's own header (fmt byte rate,
// data size), else from x-fake-audio-seconds (default 1.5).
//   whisper-1: json / verbose_json carry the seconds (transcriptions:
//     usage {type: duration, seconds}; verbose_json: duration); text, srt
//     and vtt carry nothing; translations never carry usage.
//   gpt-4o*-transcribe: token usage (audio tokens = ceil(seconds x 10),
//     text tokens ceil(prompt bytes / 4), output = words of the text), in
//     the JSON or, with stream=true, in transcript.text.done.
// The log's usage is {seconds, input_tokens, output_tokens}.
const MULTIPART_ROUTES = new Set(['/v1/audio/transcriptions', '/v1/audio/translations',
  '/v1/images/variations', '/v1/files']);

async function parseMultipart(req, raw) {
  const ct = req.headers['content-type'] || '';
  if (!/^multipart\/form-data/i.test(ct)) return null;
  try {
    const form = await new Response(raw, { headers: { 'content-type': ct } }).formData();
    const out = {};
    for (const [k, v] of form.entries()) {
      out[k] = typeof v === 'string' ? v : { name: v.name, type: v.type, bytes: Buffer.from(await v.arrayBuffer()) };
    }
    return out;
  } catch {
    return null;
  }
}

function wavSeconds(b) {
  if (!b || b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') return null;
  let off = 12, byteRate = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ' && off + 16 <= b.length) byteRate = b.readUInt32LE(off + 8 + 8);
    if (id === 'data') return byteRate ? Math.min(size, b.length - off - 8) / byteRate : null;
    off += 8 + size + (size & 1);
  }
  return null;
}

async function transcription(ctx) {
  const body = ctx.body;
  const translate = ctx.req.url.startsWith('/v1/audio/translations');
  const file = body.file && typeof body.file === 'object' ? body.file : null;
  if (!file) return sendError(ctx, 400, errorBody("you must provide a 'file' parameter", 'invalid_request_error', 'file'));
  const seconds = wavSeconds(file.bytes) ?? Number(ctx.req.headers['x-fake-audio-seconds'] ?? 1.5);
  const model = body.model;
  const format = body.response_format || 'json';
  const text = replyDeltas(ctx).join('');
  const words = text.split(/\s+/).filter(Boolean).length;
  if (model === 'whisper-1') {
    const logged = { seconds, input_tokens: 0, output_tokens: 0 };
    if (format === 'text' || format === 'srt' || format === 'vtt') {
      return sendBody(ctx, 200, 'text/plain; charset=utf-8', [Buffer.from(text + '\n')], { usage: logged, model });
    }
    const obj = format === 'verbose_json'
      ? { task: translate ? 'translate' : 'transcribe', language: 'english', duration: seconds, text, segments: [] }
      : { text };
    if (!translate) obj.usage = { type: 'duration', seconds };
    return sendJson(ctx, 200, obj, { usage: logged, model });
  }
  const audio = Math.ceil(seconds * 10);
  const prompt = typeof body.prompt === 'string' ? Math.ceil(Buffer.byteLength(body.prompt) / 4) : 0;
  const usage = { type: 'tokens', input_tokens: audio + prompt,
    input_token_details: { text_tokens: prompt, audio_tokens: audio }, output_tokens: words,
    total_tokens: audio + prompt + words };
  const logged = { seconds, input_tokens: usage.input_tokens, audio_tokens: audio, output_tokens: words };
  if (body.stream === 'true') {
    const events = replyDeltas(ctx).map((d) => ({ data: sseData({ type: 'transcript.text.delta', delta: d }) }));
    events.push({ data: sseData({ type: 'transcript.text.done', text, usage }), usage: true });
    return sendStream(ctx, events, { usage: logged, model });
  }
  return sendJson(ctx, 200, { text, usage }, { usage: logged, model });
}

const POST_ROUTES = {
  '/v1/audio/speech': speech,
  '/v1/audio/transcriptions': transcription,
  '/v1/audio/translations': transcription,
  '/v1/batches': createBatch,
  '/v1/images/generations': images,
  '/v1/moderations': moderations,
  '/v1/files': uploadFile,
  '/v1/vector_stores': vectorStore,
  '/v1/images/edits': images,
  '/v1/images/variations': images,
  '/v1/chat/completions': chatCompletions,
  '/v1/completions': completions,
  '/v1/embeddings': embeddings,
  '/v1/responses': responses,
};

// ---------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------

let seqCounter = 0;

async function handle(req, res) {
  const seq = ++seqCounter;
  const ctx = {
    req, res, seq,
    started: process.hrtime.bigint(),
    requestId: 'req_' + PROCESS_NONCE + seq.toString(16).padStart(24, '0'),
    knobs: readKnobs(req),
    encoding: negotiateEncoding(req.headers['accept-encoding']),
    body: null,
    bodySha: null,
    meta: { usage: null, model: null },
    logged: false,
    usageWritten: false,
  };

  // Client went away before the response was complete.
  res.on('close', () => {
    if (ctx.logged) return;
    const usage = ctx.usageWritten ? ctx.meta.usage : null;
    writeLog(ctx, { status: res.headersSent ? res.statusCode : null, usage, model: ctx.meta.model, aborted: true });
  });

  const chunks = [];
  try {
    for await (const c of req) chunks.push(c);
  } catch {
    return; // request aborted while uploading; 'close' logs it
  }
  const raw = Buffer.concat(chunks);
  ctx.bodySha = sha256(raw);
  const [pathname] = req.url.split('?');

  const postHandler = req.method === 'POST' ? POST_ROUTES[pathname] : undefined;
  let parseError = false;
  const isMultipart = /^multipart\//i.test(req.headers['content-type'] || '');
  if (postHandler && (MULTIPART_ROUTES.has(pathname) || (pathname === '/v1/images/edits' && isMultipart))) {
    ctx.body = await parseMultipart(req, raw);
    if (ctx.body === null) parseError = true;
  } else if (postHandler) {
    try {
      const parsed = JSON.parse(raw.toString('utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) ctx.body = parsed;
      else parseError = true;
    } catch {
      parseError = true;
    }
  }

  const k = ctx.knobs;
  if (k.hang) {
    ctx.encoding = null; // nothing is ever sent
    writeLog(ctx, { status: null, usage: null, model: null });
    return; // never answer; the socket stays open until the client closes it
  }
  if (k.resetAfter !== null) writeLog(ctx, { status: null, usage: null, model: null });
  if (k.delayMs) await sleep(k.delayMs);
  if (res.destroyed) return;

  if (k.status !== null && k.status >= 400 && k.status <= 599) {
    const model = typeof ctx.body?.model === 'string' ? ctx.body.model : null;
    return sendError(ctx, k.status, fakeStatusError(k.status, model));
  }

  if (postHandler) {
    if (parseError) {
      return sendError(ctx, 400, errorBody(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        'invalid_request_error'));
    }
    // images/generations defaults to dall-e-2 (openai-wire.md §4.4)
    if (postHandler !== images && postHandler !== createBatch && postHandler !== moderations &&
      postHandler !== uploadFile && postHandler !== vectorStore &&
      (typeof ctx.body.model !== 'string' || ctx.body.model === '')) {
      return sendError(ctx, 400, errorBody('you must provide a model parameter', 'invalid_request_error'));
    }
    return postHandler(ctx);
  }
  // Usage and Costs APIs (openai-wire.md §7): tests/fake/org.mjs
  if (pathname.startsWith('/v1/organization/')) {
    return organization(ctx, req, pathname, { sendJson, sendError, errorBody, writeLog, logPath: OPTS.log, raw });
  }
  if (req.method === 'GET' && pathname.startsWith('/v1/responses/')) return getResponse(ctx, pathname.slice(14));
  if (req.method === 'GET' && pathname.startsWith('/v1/batches/')) return getBatch(ctx, pathname.slice(12));
  if (req.method === 'GET' && pathname === '/v1/models') return listModels(ctx);
  if (req.method === 'GET' && pathname.startsWith('/v1/models/') && pathname.length > '/v1/models/'.length) {
    return getModel(ctx, decodeURIComponent(pathname.slice('/v1/models/'.length)));
  }
  return sendError(ctx, 404, errorBody(
    `Unknown request URL: ${req.method} ${pathname}. Please check the URL for typos, or see the docs at https://platform.openai.com/docs/api-reference/.`,
    'invalid_request_error', null, 'unknown_url'));
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

let cert, key;
try {
  cert = fs.readFileSync(OPTS.cert);
  key = fs.readFileSync(OPTS.key);
} catch (e) {
  usage(`cannot read certificate/key: ${e.message}`);
}

const server = https.createServer({ cert, key, ALPNProtocols: ['http/1.1'] }, (req, res) => {
  handle(req, res).catch((e) => {
    process.stderr.write(`upstream.mjs: handler error: ${e.stack || e}\n`);
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(errorBody(`fake upstream internal error: ${e.message}`, 'server_error')));
    } else {
      res.destroy();
    }
  });
});
// WebSocket (Realtime; openai-wire.md §3.4): a valid upgrade gets 101 with
// the RFC 6455 accept key, then every byte is echoed back as it arrives, so
// a test sees exactly what crossed the proxy.  Logged with status 101 and
// "websocket": true.
server.on('upgrade', (req, socket, head) => {
  const key = req.headers['sec-websocket-key'];
  const ok = req.method === 'GET' && /\bwebsocket\b/i.test(req.headers.upgrade || '') &&
    /\bupgrade\b/i.test(req.headers.connection || '') && typeof key === 'string';
  fs.appendFileSync(OPTS.log, JSON.stringify({ seq: ++seqCounter, method: req.method, path: req.url,
    status: ok ? 101 : 400, websocket: true, usage: null,
    headers: { 'x-tollgate-workspace': req.headers['x-tollgate-workspace'] ?? null } }) + '\n');
  if (!ok) {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${accept}\r\nx-request-id: req_ws_${seqCounter}\r\n\r\n`);
  if (head && head.length) socket.write(head);
  socket.on('data', (d) => socket.write(d));
  socket.on('error', () => {});
});
server.keepAliveTimeout = 30000;
server.requestTimeout = 0;   // x-fake-hang / long delays must not be cut by Node
server.headersTimeout = 60000;
server.on('connection', (socket) => socket.setNoDelay(true));
let connSeq = 0;
server.on('secureConnection', (tlsSocket) => { tlsSocket.fakeConn = ++connSeq; });
server.on('tlsClientError', () => {}); // e.g. clients that do not trust the cert
server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
});

server.listen(OPTS.port, OPTS.host, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
server.on('error', (e) => {
  process.stderr.write(`upstream.mjs: ${e.message}\n`);
  process.exit(1);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
