// 50_ca — `tollgate ca init`, as an operator runs it.
//
// Proves: it writes DIR/ca.crt and DIR/ca.key with the key at mode 0600,
// prints how to trust the CA, refuses to overwrite without --force, and the
// certificate is a P-256 CA that openssl accepts as one; `tollgate run`
// creates the CA on first start and says so in one log line, and refuses to
// start with a CA key readable by group or others.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, eq, assert, tollgateBin, makeEnv, startTollgate, stopTollgate } from './lib.mjs';

test('ca_init_writes_a_ca_and_refuses_to_overwrite', async () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-ca-')), 'state');
  try {
    const first = spawnSync(tollgateBin, ['ca', 'init', '--dir', dir], { encoding: 'utf8' });
    eq(first.status, 0, 'exit status: ' + first.stderr);
    assert(first.stdout.includes('NODE_EXTRA_CA_CERTS') && first.stdout.includes('update-ca-certificates'),
      'tells how to trust it');
    eq(fs.statSync(path.join(dir, 'ca.key')).mode & 0o777, 0o600, 'key mode');
    const text = execFileSync('openssl', ['x509', '-in', path.join(dir, 'ca.crt'), '-noout', '-text'],
      { encoding: 'utf8' });
    assert(/CA:TRUE/.test(text) && /prime256v1/.test(text) && /Certificate Sign/.test(text), 'a P-256 CA');
    const again = spawnSync(tollgateBin, ['ca', 'init', '--dir', dir], { encoding: 'utf8' });
    eq(again.status, 1, 'second init refused');
    assert(again.stderr.includes('--force'), 'names the way out');
    const forced = spawnSync(tollgateBin, ['ca', 'init', '--dir', dir, '--force'], { encoding: 'utf8' });
    eq(forced.status, 0, 'forced init');
  } finally { fs.rmSync(path.dirname(dir), { recursive: true, force: true }); }
});

test('ca_created_on_first_start_and_loose_key_refused', async () => {
  const env = await makeEnv();
  try {
    assert(fs.existsSync(path.join(env.dir, 'ca.crt')), 'CA created in data_dir');
    eq(fs.statSync(path.join(env.dir, 'ca.key')).mode & 0o777, 0o600, 'key mode');
    eq(env.logText().split('\n').filter((l) => l.includes('created the interception CA')).length, 1,
      'said so once');
    await stopTollgate(env);
    await startTollgate(env);   // second start: loads it, says nothing
    eq(env.logText().split('\n').filter((l) => l.includes('created the interception CA')).length, 1,
      'not created again');
    await stopTollgate(env);
    fs.chmodSync(path.join(env.dir, 'ca.key'), 0o644);
    let refused = null;
    try { await startTollgate(env); } catch (e) { refused = e; }
    assert(refused, 'start refused');
    assert(env.logText().includes('chmod 600'), 'the log names the fix');
    env.expectNonZeroExit = true;
    fs.chmodSync(path.join(env.dir, 'ca.key'), 0o600);
  } finally { await env.close(); }
});
