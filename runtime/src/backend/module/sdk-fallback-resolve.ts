/**
 * Lets tenant modules that live outside any node_modules tree (a mounted
 * ConfigMap, a file beside a manifest) import the packages the runtime ships
 * — the MCP SDK and zod above all — the way they would import them in a
 * project of their own. A bare specifier that does not resolve from the
 * module's own location is resolved again from the runtime's location; the
 * module's own dependencies (a `package` source) still win.
 */
import { registerHooks } from 'node:module';

let installed = false;

/** Installs the fallback resolver once per process. */
export function installRuntimePackageFallback(): void {
  if (installed) return;
  installed = true;
  const runtimeParent = import.meta.url;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context);
      } catch (error) {
        const bare = !specifier.startsWith('.') && !specifier.startsWith('/') && !/^[a-z]+:/i.test(specifier);
        if (!bare || (error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND' || context.parentURL === runtimeParent) throw error;
        return nextResolve(specifier, { ...context, parentURL: runtimeParent });
      }
    },
  });
}
