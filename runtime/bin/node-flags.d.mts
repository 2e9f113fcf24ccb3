/** Node/V8 flags the launcher adds to long-running commands. */
export declare const SERVER_NODE_FLAGS: readonly string[];
/** The flags the launcher adds for `command`, minus those already set in `execArgv` or NODE_OPTIONS. */
export declare function serverNodeFlags(command: string | undefined, execArgv?: readonly string[], nodeOptions?: string): string[];
