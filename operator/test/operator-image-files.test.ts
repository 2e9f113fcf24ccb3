/**
 * The operator image copies only the runtime files the operator imports: every
 * file reachable from operator/src/main.ts through relative imports must be
 * in the image, or the pod crashes at start with ERR_MODULE_NOT_FOUND (only a
 * real cluster would show it otherwise).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const repo = resolve(import.meta.dirname, '..', '..');
const SPECIFIER = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|^import\s+['"](\.{1,2}\/[^'"]+)['"]/gm;

/** Repo-relative paths of every file reachable from `entry` through relative imports. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [resolve(repo, entry)];
  while (todo.length) {
    const file = todo.pop()!;
    const rel = relative(repo, file);
    if (seen.has(rel)) continue;
    seen.add(rel);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(SPECIFIER)) todo.push(resolve(dirname(file), (m[1] ?? m[2] ?? m[3])!));
  }
  return seen;
}

/** Repo-relative source paths the Dockerfile's final stage copies (files and folders). */
function copied(dockerfile: string): string[] {
  const text = readFileSync(join(repo, dockerfile), 'utf8');
  const final = text.slice(text.lastIndexOf('\nFROM '));
  const out: string[] = [];
  for (const line of final.split('\n')) {
    const m = /^COPY\s+(?!--from)(.+)$/.exec(line.trim());
    if (!m) continue;
    const parts = m[1]!.split(/\s+/);
    parts.pop(); // the destination
    for (const src of parts) out.push(src.endsWith('/') || !src.includes('.') ? src.replace(/\/$/, '') + '/' : src);
  }
  return out;
}

test('every file the operator imports is copied into its image', () => {
  const files = [...reachable('operator/src/main.ts')];
  assert.ok(files.some((f) => f.startsWith('runtime/src/')), 'the operator imports the runtime schema');
  const sources = copied('operator/Dockerfile');
  const missing = files.filter((f) => !sources.some((s) => (s.endsWith('/') ? f.startsWith(s) : f === s)));
  assert.deepEqual(missing, [], `operator/Dockerfile does not copy: ${missing.join(', ')}`);
});
