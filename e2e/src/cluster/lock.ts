/**
 * A lock file shared by processes on one machine: several test processes may
 * call `ensureCluster()` at once, and a CI clone may build while a developer's
 * checkout does. The file holds the owner's pid; a lock whose owner died is
 * taken over.
 */
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterError } from './errors.ts';
import { log } from './log.ts';
import { pidAlive } from './proc.ts';

function ownerOf(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Tries once; true when this process now holds the lock. */
export function tryLockSync(path: string): boolean {
  mkdirSync(dirname(path), { recursive: true });
  const mine = `${path}.${process.pid}.tmp`;
  writeFileSync(mine, String(process.pid));
  try {
    try {
      linkSync(mine, path); // atomic: fails with EEXIST when held
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = ownerOf(path);
    if (owner === process.pid) return true;
    if (owner !== undefined && pidAlive(owner)) return false;
    // The owner died (or the file is unreadable): take the lock over. Two
    // processes may do this at once; the one whose pid is in the file wins.
    renameSync(mine, path);
    return ownerOf(path) === process.pid;
  } finally {
    try {
      unlinkSync(mine);
    } catch {
      // renamed over the lock, or already gone
    }
  }
}

export function unlockSync(path: string): void {
  if (ownerOf(path) === process.pid) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
}

/** Waits for the lock, runs `fn`, releases the lock. */
export async function withLock<T>(path: string, what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    if (tryLockSync(path)) {
      // Settle a takeover race: re-read after a moment.
      await sleep(20);
      if (ownerOf(path) === process.pid) break;
    }
    if (Date.now() > deadline) {
      throw new ClusterError('E2E_LOCK_TIMEOUT', `${what}: ${path} still held by pid ${ownerOf(path)} after ${timeoutMs} ms`);
    }
    if (!announced) {
      log.info({ lock: path, owner: ownerOf(path), what }, 'Found the lock held by another process; waiting for it');
      announced = true;
    }
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    unlockSync(path);
  }
}
