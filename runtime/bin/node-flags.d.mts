/** Node/V8 flags the launcher adds to long-running commands. */
export declare const SERVER_NODE_FLAGS: readonly string[];
/** Flags added on top when the process may run on one CPU only. */
export declare const ONE_CPU_NODE_FLAGS: readonly string[];
/** How many CPUs the process may run on (from /proc/self/status's Cpus_allowed_list), or undefined. */
export declare function allowedCpus(status?: string): number | undefined;
/** The flags the launcher adds for `command` on `cpus` allowed CPUs, minus those already set in `execArgv` or NODE_OPTIONS. */
export declare function serverNodeFlags(command: string | undefined, execArgv?: readonly string[], nodeOptions?: string, cpus?: number): string[];
/** Environment entries the launcher adds to long-running commands. */
export declare const SERVER_ENV: Readonly<Record<string, string>>;
/** The SERVER_ENV entries `env` does not set yet, for `command`. */
export declare function serverEnv(command: string | undefined, env?: Record<string, string | undefined>): Record<string, string>;
