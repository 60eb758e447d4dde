// 21_transcriptions — POST /v1/audio/transcriptions and /translations,
// multipart uploads metered as they stream through (issue 5;
// openai-wire.md §4.1, §4.2, §8).
//
// Proves, with real audio files made by sox and lame for this run:
// whisper-1 is priced per second ($0.0001/s) from the answer's
// usage.seconds or verbose_json duration when it has them, else from the
// upload's own container header (WAV exactly, MP3 from its Xing/Info
// frame count), else from the upload's size at 128 kbit/s, flagged
// estimated; rows carry units = seconds and unit_kind "seconds";
// gpt-4o-transcribe is priced by the text and audio tokens its answer
// reports, in JSON and in a stream's transcript.text.done; the official
// openai SDK's multipart uploads work through the proxy; a daily budget
// refuses a long upload by its length before it leaves.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import OpenAI, { toFile } from 'openai';
import { test, makeEnv, eq, assert, curl, skip } from './lib.mjs';

const NANO_PER_MS = 100; // whisper-1: $0.0001 a second

function have(tool) {
  try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); return true; } catch { return false; }
}

// WAV of `seconds` (16 kHz mono 16-bit) and MP3 (lame CBR 64k, Xing tag).
function audio(dir, seconds) {
  if (!have('sox') || !have('lame')) skip('sox and lame are needed (scripts/deps.sh test installs them)');
  const wav = path.join(dir, `a${seconds}.wav`), aiff = path.join(dir, `a${seconds}.aiff`), mp3 = path.join(dir, `a${seconds}.mp3`);
  execFileSync('sox', ['-n', '-r', '16000', '-c', '1', '-b', '16', wav, 'synth', String(seconds), 'sine', '440']);
  execFileSync('sox', ['-n', '-r', '44100', '-c', '1', aiff, 'synth', String(seconds), 'sine', '440']);
  execFileSync('lame', ['--quiet', '-b', '64', aiff, mp3]);
  return { wav, mp3 };
}

const upload = (env, route, file, fields, headers = []) => curl([`${env.base}/v1/audio/${route}`,
  '-F', `file=@${file}`, ...Object.entries(fields).flatMap(([k, v]) => ['-F', `${k}=${v}`]),
  ...headers.flatMap((h) => ['-H', h])]);

test('transcriptions_whisper_priced_per_second', async () => {
  const env = await makeEnv();
  try {
    const { wav, mp3 } = audio(env.dir, 3.25);
    const client = new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${env.base}/v1`, maxRetries: 0 });
    const t = await client.audio.transcriptions.create({ model: 'whisper-1',
      file: await toFile(fs.readFileSync(wav), 'speech.wav', { type: 'audio/wav' }) });
    eq(t.usage, { type: 'duration', seconds: 3.25 }, 'SDK json answer with usage.seconds');
    // text: the answer says nothing; the WAV header says 3.25 s
    eq((await upload(env, 'transcriptions', wav, { model: 'whisper-1', response_format: 'text' })).status, 200, 'text');
    // MP3, text: the Xing/Info frame count says how long
    eq((await upload(env, 'transcriptions', mp3, { model: 'whisper-1', response_format: 'srt' })).status, 200, 'srt');
    // translations carry no usage; verbose_json has the duration
    const v = await upload(env, 'translations', wav, { model: 'whisper-1', response_format: 'verbose_json' });
    eq(JSON.parse(v.body).duration, 3.25, 'verbose_json duration');
    eq((await upload(env, 'translations', mp3, { model: 'whisper-1', response_format: 'vtt' })).status, 200, 'vtt');
    // an upload whose container is unknown: guessed from its size
    const junk = path.join(env.dir, 'noise.bin');
    fs.writeFileSync(junk, Buffer.alloc(32000, 0x5a));
    eq((await upload(env, 'transcriptions', junk, { model: 'whisper-1', response_format: 'text' })).status, 200, 'junk');
    const rows = await env.rows(6);
    eq(rows.map((r) => [r.endpoint, r.model, r.unit_kind]), [
      ...Array(3).fill(['/v1/audio/transcriptions', 'whisper-1', 'seconds']),
      ...Array(2).fill(['/v1/audio/translations', 'whisper-1', 'seconds']),
      ['/v1/audio/transcriptions', 'whisper-1', 'seconds']], 'endpoints');
    for (const r of rows) eq(r.cost_nanousd, Math.round(r.units * 1000) * NANO_PER_MS, `row ${r.id} priced per ms of audio`);
    eq(rows.map((r) => r.units), [3.25, 3.25, rows[2].units, 3.25, rows[4].units, 2], 'seconds');
    // lame pads the last frame and adds its encoder delay: at most two
    // 1152-sample frames at 44.1 kHz past the signal's own length
    for (const i of [2, 4]) assert(rows[i].units >= 3.25 && rows[i].units <= 3.25 + 2 * 1152 / 44100, `mp3 row ${i}: ${rows[i].units}`);
    eq(rows.map((r) => r.estimated), [0, 0, 0, 0, 0, 1], 'only the unknown container is estimated');
    assert(/estimated from the upload's size/.test(rows[5].error), 'says why: ' + rows[5].error);
    eq(env.fakeLog().map((l) => l.status), [200, 200, 200, 200, 200, 200], 'all reached the upstream');
  } finally { await env.close(); }
});

test('transcriptions_gpt4o_priced_by_tokens', async () => {
  const env = await makeEnv();
  try {
    const { wav } = audio(env.dir, 2);
    const j = await upload(env, 'transcriptions', wav, { model: 'gpt-4o-transcribe', prompt: 'names: Tollgate' });
    const s = await upload(env, 'transcriptions', wav, { model: 'gpt-4o-mini-transcribe', stream: 'true' });
    eq([j.status, s.status], [200, 200], 'answered');
    assert(s.body.includes('transcript.text.done'), 'streamed');
    const rows = await env.rows(2);
    const log = env.fakeLog();
    // $ per 1M: gpt-4o-transcribe text 2.50, audio 6.00, out 10.00;
    // gpt-4o-mini-transcribe text 1.25, audio 3.00, out 5.00
    const price = (u, t, a, o) => (u.input_tokens - u.audio_tokens) * t + u.audio_tokens * a + u.output_tokens * o;
    eq(rows.map((r) => [r.model, r.stream, r.input_tokens, r.output_tokens, r.unit_kind, r.estimated, r.cost_nanousd]), [
      ['gpt-4o-transcribe', 0, log[0].usage.input_tokens, log[0].usage.output_tokens, null, 0, price(log[0].usage, 2500, 6000, 10000)],
      ['gpt-4o-mini-transcribe', 1, log[1].usage.input_tokens, log[1].usage.output_tokens, null, 0, price(log[1].usage, 1250, 3000, 5000)],
    ], 'rows as the upstream reported');
    assert(log[0].usage.audio_tokens > 0 && log[0].usage.input_tokens > log[0].usage.audio_tokens, 'text and audio tokens both priced');
  } finally { await env.close(); }
});

test('transcriptions_budget_refuses_a_long_upload', async () => {
  // 60 s of whisper-1 costs $0.006; the budget is $0.005
  const env = await makeEnv({ workspaces: { default: { limits: { daily_usd: 0.005 } } } });
  try {
    const short = audio(env.dir, 10).wav, long = audio(env.dir, 60).wav;
    eq((await upload(env, 'transcriptions', short, { model: 'whisper-1' })).status, 200, '10 s fits');
    const r = await upload(env, 'transcriptions', long, { model: 'whisper-1' });
    eq([r.status, r.headers['x-tollgate-limit']], [429, 'daily_usd'], '60 s would pass the budget');
    eq(env.fakeLog().length, 1, 'never reached the upstream');
    const rows = await env.rows(2);
    eq(rows.map((x) => [x.status, x.units, x.cost_nanousd]), [[200, 10, 10000 * NANO_PER_MS], [429, null, 0]], 'rows');
  } finally { await env.close(); }
});
