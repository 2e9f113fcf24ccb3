/** The config error every loader throws; kept apart from the schemas so the running server never loads them. */

/** A config problem; the CLI prints `message` and exits with status 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly string[];
  constructor(source: string, issues: readonly string[]) {
    super(`invalid config (${source}):\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.issues = issues;
  }
}
