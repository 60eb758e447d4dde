// 50_ca — `tollgate ca init`, as an operator runs it.
//
// Proves: it writes DIR/ca.crt and DIR/ca.key with the key at mode 0600,
// prints how to trust the CA, refuses to overwrite without --force, and the
// certificate is a P-256 CA that openssl accepts as one.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, eq, assert, tollgateBin } from './lib.mjs';

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
