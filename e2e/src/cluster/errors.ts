/**
 * Coded errors of the e2e cluster tooling. Every failure names what failed
 * (a component, a tool, a file) and, where a process was involved, carries the
 * tail of its log so the cause is on screen without digging.
 */

export const ERRORS = {
  E2E_NO_GO: 'The Go toolchain was not found',
  E2E_NO_OPENSSL: 'The openssl command was not found',
  E2E_BUILD_FAILED: 'A control-plane binary failed to build',
  E2E_TOOL_EXTRACT_FAILED: 'kubectl/helm could not be extracted',
  E2E_PORT_IN_USE: 'A control-plane port is already in use',
  E2E_COMPONENT_EXITED: 'A control-plane component exited during start-up',
  E2E_COMPONENT_UNHEALTHY: 'A control-plane component did not become healthy',
  E2E_NODES_NOT_READY: 'The kwok nodes did not become Ready',
  E2E_LOCK_TIMEOUT: 'Timed out waiting for a lock held by another process',
  E2E_COMMAND_FAILED: 'A command failed',
  E2E_WAIT_TIMEOUT: 'A condition was not met in time',
} as const;

export type ErrorCode = keyof typeof ERRORS;

export interface ClusterErrorDetails {
  /** The component or tool concerned, e.g. `kube-apiserver`, `go`. */
  component?: string;
  /** Path of the log that holds the full story. */
  logFile?: string;
  /** The last lines of that log. */
  logTail?: string;
  cause?: unknown;
}

export class ClusterError extends Error {
  readonly code: ErrorCode;
  readonly component: string | undefined;
  readonly logFile: string | undefined;
  readonly logTail: string | undefined;

  constructor(code: ErrorCode, detail: string, details: ClusterErrorDetails = {}) {
    const parts = [`${code}: ${ERRORS[code]}${details.component ? ` (${details.component})` : ''}: ${detail}`];
    if (details.logFile) parts.push(`log: ${details.logFile}`);
    if (details.logTail) {
      parts.push(`--- last lines of ${details.component ?? 'the'} log ---`, details.logTail.trimEnd(), '--- end of log ---');
    }
    super(parts.join('\n'), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ClusterError';
    this.code = code;
    this.component = details.component;
    this.logFile = details.logFile;
    this.logTail = details.logTail;
  }
}
