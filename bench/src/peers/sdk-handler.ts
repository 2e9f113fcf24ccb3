// Rung 3a: the bare SDK v2 `createMcpHandler` on node:http (a new server per
// request, both eras: modern per-request, legacy via its stateless fallback).
import { createServer } from 'node:http';
import { createMcpHandler } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import createEchoServer from '../../fixtures/echo-server.mjs';
import { announce, portArg } from './peer-util.ts';

const handler = toNodeHandler(createMcpHandler(createEchoServer));
const server = createServer((req, res) => void handler(req, res));
server.keepAliveTimeout = 65_000;
server.listen(portArg(), '127.0.0.1', () => announce(server));
