// 80_container — the sidecar recipe, exercised without a Docker engine.
//
// Proves: the Dockerfile's build stage (scripts/container-build.sh) builds
// and installs a working binary; every shared library that binary needs
// comes from a Debian package the runtime stage installs; the runtime stage
// runs as a non-root user with /data as a volume and a HEALTHCHECK on the
// admin listener's /healthz; the sidecar config it ships is valid.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, eq, assert, root } from './lib.mjs';

test('container_build_stage_and_runtime_packages', async () => {
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-image-'));
  try {
    const b = spawnSync('scripts/container-build.sh', [dest], { cwd: root, encoding: 'utf8', timeout: 300000 });
    eq(b.status, 0, 'build stage: ' + (b.stderr || '').slice(-500));
    const bin = path.join(dest, 'usr/local/bin/tollgate');
    const v = spawnSync(bin, ['version'], { encoding: 'utf8' });
    assert(v.status === 0 && v.stdout.startsWith('tollgate '), 'installed binary runs');

    const docker = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const runtime = docker.slice(docker.lastIndexOf('FROM debian:bookworm-slim'));
    const ldd = spawnSync('ldd', [bin], { encoding: 'utf8' }).stdout;
    const libs = [...ldd.matchAll(/=> (\/\S+)/g)].map((m) => m[1]);
    assert(libs.length > 5, 'ldd listed the libraries');
    for (const lib of libs) {
      const owner = spawnSync('dpkg', ['-S', fs.realpathSync(lib)], { encoding: 'utf8' }).stdout.split(':')[0];
      if (owner === 'libc6') continue; // in every Debian image
      assert(new RegExp(`\\b${owner.replace(/[.+]/g, '\\$&')}\\b`).test(runtime),
        `runtime stage lacks ${owner} (for ${lib})`);
    }
    assert(/^USER tollgate$/m.test(runtime), 'runs as a non-root user');
    assert(/^VOLUME \["\/data"\]$/m.test(runtime), '/data is a volume');
    assert(/HEALTHCHECK[\s\S]*http:\/\/127\.0\.0\.1:9090\/healthz/.test(runtime), 'health check on /healthz');
    const cfg = JSON.parse(fs.readFileSync(path.join(root, 'examples/sidecar.json'), 'utf8'));
    eq(cfg.admin_listen, '127.0.0.1:9090', 'health check matches the admin listener');
    const c = spawnSync(bin, ['check-config', '-c', path.join(root, 'examples/sidecar.json')], { encoding: 'utf8' });
    eq(c.status, 0, 'sidecar config valid: ' + c.stderr);
  } finally { fs.rmSync(dest, { recursive: true, force: true }); }
}, { timeout: 300000 });
