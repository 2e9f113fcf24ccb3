/** Failure classification for isError tool results: transient, bad input, fatal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyFailure, FAILURE_META_KEY, toolExceptionResult, toolFailureResult, toolTimeoutResult } from '../src/protocol/tool-result.ts';

test('network faults, timeouts, 429/5xx and retryable errors are transient', () => {
  assert.equal(classifyFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), 'transient');
  assert.equal(classifyFailure(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), 'transient');
  assert.equal(classifyFailure(new DOMException('The operation timed out.', 'TimeoutError')), 'transient');
  assert.equal(classifyFailure({ status: 503 }), 'transient');
  assert.equal(classifyFailure({ statusCode: 429 }), 'transient');
  assert.equal(classifyFailure(Object.assign(new Error('quota'), { retryable: true })), 'transient');
  assert.equal(classifyFailure(new Error('fetch failed', { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) })), 'transient');
});

test('validation failures and 4xx are bad input; everything else is fatal', () => {
  assert.equal(classifyFailure({ code: -32602, message: 'Invalid params' }), 'bad_input');
  assert.equal(classifyFailure(Object.assign(new Error('bad'), { name: 'ZodError' })), 'bad_input');
  assert.equal(classifyFailure({ status: 404 }), 'bad_input');
  assert.equal(classifyFailure(new TypeError("Cannot read properties of undefined (reading 'x')")), 'fatal');
  assert.equal(classifyFailure({ status: 401 }), 'fatal');
  assert.equal(classifyFailure('a string'), 'fatal');
  assert.equal(classifyFailure(null), 'fatal');
});

test('results spell the class out at the start of the text and in _meta; modern ones carry resultType', () => {
  const legacy = toolFailureResult('bad_input', 'Unknown city "Atlantis".');
  assert.deepEqual(legacy, {
    content: [{ type: 'text', text: '[bad_input] Unknown city "Atlantis". The arguments were not accepted; change them before retrying.' }],
    isError: true,
    _meta: { [FAILURE_META_KEY]: { kind: 'bad_input', retryable: false } },
  });
  const modern = toolTimeoutResult('search', 60, 'modern');
  assert.equal(modern.resultType, 'complete');
  assert.match((modern.content as Array<{ text: string }>)[0]?.text ?? '', /^\[transient\] Tool "search" did not finish within 60 s/);
  const thrown = toolExceptionResult(Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }));
  assert.match((thrown.content as Array<{ text: string }>)[0]?.text ?? '', /^\[transient\] connect ETIMEDOUT This is likely temporary; retrying may help\.$/);
});
