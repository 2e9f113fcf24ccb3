/** Usage texts. */
export const USAGE = `Usage: berth <command> [options]

Hosts MCP servers: the runtime behind the Berth Kubernetes operator, and a
local runner for the same McpServer manifests.

Commands:
  run -f FILE              Serve an McpServer manifest locally (in-memory stores)
  serve --config FILE      Serve a runtime config document (the container entry point)
  validate -f FILE         Check an McpServer manifest; prints OK or the field errors
  install-package SPEC     Install an npm package for a module/stdio source (--dir D)
  audit                    Audit an MCP server's tool descriptions

Options:
  -h, --help               Show help (also: berth <command> --help)
  -v, --version            Print the version

Exit status: 0 success, 1 runtime failure, 2 invalid config or usage.
`;

export const RUN_USAGE = `Usage: berth run -f FILE [options]

Serves the McpServer manifest FILE on http://HOST:PORT<endpoint.path> with
in-memory sessions and events (Redis when --redis or BERTH_REDIS_URL is set).
Relative paths in the manifest resolve against its folder.

Options:
  -f, --file FILE          The McpServer manifest (YAML or JSON)
      --host HOST          Listen address (default HOST or 127.0.0.1)
      --port N             Listen port (default PORT or 8080; 0 picks a free port)
      --redis URL          Redis for sessions, events and limits (default BERTH_REDIS_URL)
      --secrets-dir DIR    Files <secret>/<key> for secretKeyRef (default <manifest dir>/secrets)
      --configmaps-dir DIR Files <configmap>/<key> for configMapRef (default <manifest dir>/configmaps)
      --packages-dir DIR   Where source packages are installed (default <manifest dir>/.berth/packages)
      --log-level LEVEL    fatal|error|warn|info|debug|trace|silent (default BERTH_LOG_LEVEL or info)
      --stdio              Serve one client over stdin/stdout instead of HTTP
`;

export const SERVE_USAGE = `Usage: berth serve --config FILE

Serves the runtime config document FILE (JSON or YAML), as rendered by the
operator. Environment overrides: PORT, HOST, BERTH_REDIS_URL, BERTH_LOG_LEVEL;
BERTH_CONFIG names the file when --config is absent.
`;

export const VALIDATE_USAGE = `Usage: berth validate -f FILE

Validates an McpServer manifest against the schema. Prints OK, or one line
per problem naming the field, and exits 2.
`;

export const INSTALL_USAGE = `Usage: berth install-package SPEC --dir DIR

Installs the npm package SPEC (e.g. @acme/weather-mcp@1.4.2) under DIR with
npm install --prefix DIR, without running install scripts. Does nothing when
DIR already holds that spec.
`;
