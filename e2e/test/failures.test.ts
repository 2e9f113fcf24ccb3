/**
 * Failures are loud and specific: they name the component and carry the tail
 * of its log. Runs against throw-away cluster dirs, not the shared cluster.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureBinaries, findGo } from '../src/cluster/build.ts';
import { ports } from '../src/cluster/config.ts';
import { status, up } from '../src/cluster/control-plane.ts';
import { ClusterError } from '../src/cluster/errors.ts';
import { tryLockSync, unlockSync } from '../src/cluster/lock.ts';
import { log } from '../src/cluster/log.ts';

function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return fn().finally(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

test('a missing Go toolchain is named', async () => {
  await withEnv({ GO: '/nonexistent/go' }, async () => {
    assert.throws(findGo, (err: unknown) => {
      assert.ok(err instanceof ClusterError);
      assert.equal(err.code, 'E2E_NO_GO');
      assert.equal(err.component, 'go');
      return true;
    });
  });
});

test('a component that exits at start-up is named, with its log tail, and nothing is left running', async () => {
  const bins = await ensureBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'berth-e2e-fail-'));
  // Away from the shared cluster's ports.
  const base = ports().etcd >= 24500 ? ports().etcd - 300 : ports().etcd + 300;
  try {
    const level = log.level;
    log.level = 'fatal'; // the failure below is expected: keep its error line out of the test output
    await withEnv({ BERTH_CLUSTER_PORT_BASE: String(base), BERTH_KUBE_APISERVER_ARGS: '--no-such-flag=1' }, async () => {
      await assert.rejects(up(bins, { dir, owner: 'cli' }), (err: unknown) => {
        assert.ok(err instanceof ClusterError, String(err));
        assert.equal(err.code, 'E2E_COMPONENT_EXITED');
        assert.equal(err.component, 'kube-apiserver');
        assert.match(err.message, /unknown flag: --no-such-flag/);
        assert.match(err.message, /last lines of kube-apiserver log/);
        return true;
      });
    }).finally(() => {
      log.level = level;
    });
    const s = await status(dir);
    assert.equal(s.state, undefined);
    assert.equal(s.anyRunning, false, 'etcd, started first, was stopped again');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock left by a dead process is taken over; a live one is not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-e2e-lock-'));
  try {
    const lock = join(dir, '.lock');
    writeFileSync(lock, '999999999'); // no such pid
    assert.equal(tryLockSync(lock), true);
    unlockSync(lock);
    writeFileSync(lock, '1'); // init: alive, not us
    assert.equal(tryLockSync(lock), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
