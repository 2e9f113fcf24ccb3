/** Session signals received from Redis are validated before any exchange sees them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSignal } from '../src/cluster/session-signals.ts';

const wire = (s: unknown, o: unknown = 'r1') => JSON.stringify({ o, s });

test('a cancel, a response and a session end pass; their origin is kept', () => {
  assert.deepEqual(parseSignal(wire({ kind: 'cancel', session: 's', requestId: 7 })), { origin: 'r1', signal: { kind: 'cancel', session: 's', requestId: 7 } });
  const response = { kind: 'response', session: 's', message: { jsonrpc: '2.0', id: 'x', result: { action: 'decline' } } };
  assert.deepEqual(parseSignal(wire(response)), { origin: 'r1', signal: response });
  const error = { kind: 'response', session: 's', message: { jsonrpc: '2.0', id: 3, error: { code: -1, message: 'no' } } };
  assert.deepEqual(parseSignal(wire(error))?.signal, error);
  assert.deepEqual(parseSignal(wire({ kind: 'end', session: 's', extra: 'dropped' })), { origin: 'r1', signal: { kind: 'end', session: 's' } });
});

test('anything else is refused', () => {
  for (const bad of [
    'not json',
    wire({ kind: 'cancel', session: 's', requestId: 7 }, 5),
    wire({ kind: 'cancel', session: 's', requestId: { id: 1 } }),
    wire({ kind: 'cancel', session: 's', requestId: 1, reason: 5 }),
    wire({ kind: 'cancel', requestId: 1 }),
    wire({ kind: 'response', session: 's', message: { jsonrpc: '2.0', id: 1 } }),
    wire({ kind: 'response', session: 's', message: { jsonrpc: '2.0', result: {} } }),
    wire({ kind: 'response', session: 's' }),
    wire({ kind: 'drop', session: 's' }),
    wire({ kind: 'end' }),
    wire({ kind: 'end', session: 5 }),
    wire(null),
  ]) {
    assert.equal(parseSignal(bad), undefined, bad);
  }
});
