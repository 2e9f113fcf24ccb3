/**
 * Fastify's schema compilers for an app whose routes declare no schemas.
 *
 * Berth parses and checks MCP bodies itself, so no route has a `schema`.
 * Fastify still loads its default compilers when the app is built (ajv,
 * ajv-formats, fast-uri, fast-json-stringify: about 2 MB of heap in every
 * runtime). These take their place and refuse, loudly, a route that would
 * need them.
 */
import type { FastifyServerOptions } from 'fastify';

function refuse(): never {
  throw new Error('Berth routes declare no schemas: validate the body in the handler');
}

/** The `schemaController` option: compilers that refuse to compile. */
export const NO_ROUTE_SCHEMAS: NonNullable<FastifyServerOptions['schemaController']> = {
  compilersFactory: { buildValidator: () => refuse, buildSerializer: () => refuse },
};
