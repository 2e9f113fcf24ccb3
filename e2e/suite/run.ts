/**
 * `node e2e/suite/run.ts` (or `npx node e2e/suite/run.ts` for Node 24): the
 * e2e suite against the cluster KUBECONFIG names. Settings come from the
 * environment (see options.ts and README.md). Exit status: 0 when every
 * check that ran passed, 1 when one failed, 2 for a bad setting.
 */
import { runSuite } from './runner.ts';
import { SuiteConfigError, suiteOptions } from './options.ts';

try {
  const options = suiteOptions(process.env);
  const report = await runSuite(options, { out: (line) => process.stdout.write(`${line}\n`) });
  process.exitCode = report.failed > 0 || report.passed === 0 ? 1 : 0;
} catch (err) {
  process.stderr.write(`berth e2e suite: ${(err as Error).message}\n`);
  process.exitCode = err instanceof SuiteConfigError ? 2 : 1;
}
