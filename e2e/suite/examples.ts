/**
 * The examples the suite deploys: every examples/<name>/mcpserver.yaml,
 * moved into the tenant namespace. Which of them can run depends only on the
 * declared options; each one left out is reported with the reason.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { SuiteOptions } from './options.ts';

type Obj = Record<string, any>;

export interface Example {
  /** Folder name under examples/. */
  folder: string;
  /** The McpServer's name. */
  name: string;
  /** Every document to apply (Secrets first, the McpServer last). */
  docs: Obj[];
  mcp: Obj;
  /** What changed from the file for this environment, for the report. */
  adjustments: string[];
}

export interface ExamplePlan {
  deploy: Example[];
  skipped: Array<{ folder: string; reason: string }>;
}

/** Reads every example's documents and sets their namespace. */
export function readExamples(repoRoot: string, namespace: string): Example[] {
  const dir = join(repoRoot, 'examples');
  const out: Example[] = [];
  for (const folder of readdirSync(dir).sort()) {
    const file = join(dir, folder, 'mcpserver.yaml');
    if (!statSync(join(dir, folder)).isDirectory()) continue;
    const docs = parseAllDocuments(readFileSync(file, 'utf8'))
      .map((d) => d.toJS() as Obj | null)
      .filter((d): d is Obj => d !== null)
      .map((d): Obj => ({ ...d, metadata: { ...d.metadata, namespace } }));
    const mcp = docs.find((d) => d.kind === 'McpServer');
    if (!mcp) throw new Error(`examples/${folder}/mcpserver.yaml holds no McpServer`);
    out.push({ folder, name: mcp.metadata.name, docs: [...docs.filter((d) => d !== mcp), mcp], mcp, adjustments: [] });
  }
  return out;
}

const selector = (instance: string): Obj => ({ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'berth-runtime', 'app.kubernetes.io/instance': instance } } });

/**
 * Decides what to deploy. Without real pods every example is deployed (the
 * operator's work is the same; pods only pretend to run). With real pods:
 * - a source installed from npm needs package egress;
 * - a module given by a local path needs the image to hold the examples;
 * - the remote example's upstream becomes the `everything` (or else the
 *   `configmap-module`) example's Service, with the NetworkPolicy allows
 *   that takes.
 */
export function planExamples(all: Example[], o: SuiteOptions): ExamplePlan {
  if (!o.realPods) return { deploy: all, skipped: [] };
  const deploy: Example[] = [];
  const skipped: ExamplePlan['skipped'] = [];
  for (const ex of all) {
    const source = ex.mcp.spec.source as Obj;
    const pkg = source.module?.package ?? source.stdio?.package;
    if (pkg && !o.packageEgress) {
      skipped.push({ folder: ex.folder, reason: `its source is the npm package ${pkg} and package egress was not declared (BERTH_E2E_PACKAGE_EGRESS=1)` });
      continue;
    }
    const path = source.module?.path as string | undefined;
    if (path && !isAbsolute(path)) {
      if (!o.imageExamples) {
        skipped.push({ folder: ex.folder, reason: `its module is the local file ${path}; declare BERTH_E2E_IMAGE_EXAMPLES when the runtime image holds examples/` });
        continue;
      }
      source.module.path = `${o.imageExamples.replace(/\/$/, '')}/${ex.folder}/${path.replace(/^\.\//, '')}`;
      ex.adjustments.push(`module.path → ${source.module.path}`);
    }
    deploy.push(ex);
  }
  // The remote example needs an upstream in the cluster: another deployed example without auth.
  const remote = deploy.find((e) => e.mcp.spec.source.remote);
  const upstream = ['everything', 'configmap-module'].map((f) => deploy.find((e) => e.folder === f)).find((e) => e !== undefined);
  if (remote && !upstream) {
    deploy.splice(deploy.indexOf(remote), 1);
    skipped.push({ folder: remote.folder, reason: 'its in-cluster upstream (the everything or configmap-module example) is not deployed' });
  } else if (remote && upstream) {
    remote.mcp.spec.source.remote.url = `http://${upstream.name}:8080/mcp`;
    remote.mcp.spec.networkPolicy = { ...remote.mcp.spec.networkPolicy, egressTo: [{ to: [selector(upstream.name)], ports: [{ protocol: 'TCP', port: 8080 }] }] };
    upstream.mcp.spec.networkPolicy = { ...upstream.mcp.spec.networkPolicy, ingressFrom: [selector(remote.name)] };
    remote.adjustments.push(`remote.url → http://${upstream.name}:8080/mcp (the ${upstream.folder} example), egress allowed to it`);
    upstream.adjustments.push(`ingress allowed from ${remote.name}`);
  }
  return { deploy, skipped };
}

/** YAML stream of the documents (JSON is YAML). */
export function toStream(docs: readonly Obj[]): string {
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}
