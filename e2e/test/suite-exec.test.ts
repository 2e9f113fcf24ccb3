/** The suite's command runner: a command's exit status is the story, whatever it did with its input. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from '../src/cluster/proc.ts';
import { exec } from '../suite/kube.ts';

test('a command that exits without reading its input resolves with its status and stderr, never an EPIPE', async () => {
  // 4 MiB is far past a pipe's buffer, so the write is still going when the reader is gone.
  const input = 'x'.repeat(4 * 1024 * 1024);
  for (let i = 0; i < 5; i++) {
    const r = await exec('sh', ['-c', 'echo refused >&2; exit 3'], { input });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /refused/);
    assert.doesNotMatch(r.stderr, /stdin:/);
  }
});

test('input reaches the command; no input means an empty stdin', async () => {
  assert.equal((await exec('wc', ['-c'], { input: 'hello' })).stdout.trim(), '5');
  const empty = await exec('wc', ['-c']);
  assert.deepEqual([empty.code, empty.stdout.trim()], [0, '0']);
});

test('the cluster runner too: a command that exits before reading its input gives its status', async () => {
  const r = await run('sh', ['-c', 'echo refused >&2; exit 3'], { input: 'x'.repeat(4 * 1024 * 1024) });
  assert.deepEqual([r.code, r.stderr.trim()], [3, 'refused']);
});
