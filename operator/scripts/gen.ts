/** Writes the CRD, its Helm template and docs/crd-reference.md from the schemas. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { generatedFiles } from '../src/api/v1alpha1/generate.ts';

const root = resolve(import.meta.dirname, '..', '..');
for (const [path, content] of Object.entries(generatedFiles())) {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  process.stdout.write(`wrote ${path}\n`);
}
