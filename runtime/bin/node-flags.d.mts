/** Node/V8 flags the launcher adds to long-running commands. */
export declare const SERVER_NODE_FLAGS: readonly string[];
/** The flags the launcher adds for `command`, minus those already set in `execArgv` or NODE_OPTIONS. */
export declare function serverNodeFlags(command: string | undefined, execArgv?: readonly string[], nodeOptions?: string): string[];
/** Environment entries the launcher adds to long-running commands. */
export declare const SERVER_ENV: Readonly<Record<string, string>>;
/** The SERVER_ENV entries `env` does not set yet, for `command`. */
export declare function serverEnv(command: string | undefined, env?: Record<string, string | undefined>): Record<string, string>;
