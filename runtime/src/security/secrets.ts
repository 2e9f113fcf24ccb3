/** Reading referenced Secrets from the mounted secrets directory (`<secretsDir>/<secret>/<key>`). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const SAFE = /^[A-Za-z0-9._-]+$/;

/** The file that holds `key` of Secret `name`; rejects names that could escape the directory. */
export function secretFilePath(secretsDir: string, name: string, key: string): string {
  for (const part of [name, key]) {
    if (!SAFE.test(part) || part === '.' || part === '..') throw new Error(`invalid secret reference part "${part}"`);
  }
  return join(secretsDir, name, key);
}

/** The directory a whole Secret is mounted at. */
export function secretDirPath(secretsDir: string, name: string): string {
  if (!SAFE.test(name) || name === '.' || name === '..') throw new Error(`invalid secret name "${name}"`);
  return join(secretsDir, name);
}

/** Reads a secret value, dropping one trailing newline (files written by editors and `echo`). */
export async function readSecret(secretsDir: string, name: string, key: string): Promise<string> {
  const text = await readFile(secretFilePath(secretsDir, name, key), 'utf8');
  return text.replace(/\r?\n$/, '');
}
