import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate, ExpressionError } from '../../examples/hello/calc.ts';
import { parsePath, PathError, select } from '../../examples/hello/json-path.ts';
import createHelloServer from '../../examples/hello/server.ts';
import { createModuleBackend } from '../src/backend/module/index.ts';
import { call, envelope, modernCtx, recordingSink, req, silent, textOf } from './module-helpers.ts';

test('the calculator follows arithmetic precedence without eval', () => {
  const cases: Array<[string, number]> = [
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['2 ^ 3 ^ 2', 512],
    ['-2 ^ 2', -4],
    ['2 ^ -1', 0.5],
    ['10 % 4 + 7 / 2', 5.5],
    ['sqrt(16) + abs(-3) + max(1, 9, 4)', 16],
    ['round(pi, 3)', 3.142],
    ['log(1000) + ln(e)', 4],
    ['1.5e3 - .5', 1499.5],
    ['3 × 4 ÷ 2', 6],
  ];
  for (const [expression, expected] of cases) assert.ok(Math.abs(evaluate(expression) - expected) < 1e-9, `${expression} = ${expected}`);
});

test('the calculator rejects what it cannot evaluate, saying where', () => {
  const errors: Array<[string, RegExp]> = [
    ['1 / 0', /division by zero/],
    ['2 +', /ends too early/],
    ['(1 + 2', /expected "\)" at the end/],
    ['process.exit(1)', /unexpected character "\." at position 8|unknown name "process"/],
    ['constructor', /unknown name "constructor"/],
    ['toString(1)', /unknown function "tostring"/],
    ['foo(1)', /unknown function "foo"/],
    ['sqrt(1, 2)', /sqrt\(\) takes 1 argument, got 2/],
    ['sqrt(-1)', /not a number/],
    ['1 2', /unexpected "2" at position 3/],
    ['', /empty expression/],
    ['('.repeat(100) + '1' + ')'.repeat(100), /nested deeper than 64/],
  ];
  for (const [expression, message] of errors) assert.throws(() => evaluate(expression), (e: unknown) => e instanceof ExpressionError && message.test(e.message), expression);
});

test('JSON paths select nested values and name the missing step', () => {
  const doc = { items: [{ name: 'a', tags: ['x', 'y'] }, { name: 'b' }], 'odd key': { 'x.y': 1 } };
  assert.deepEqual(parsePath('items[0].tags[-1]'), ['items', 0, 'tags', -1]);
  assert.equal(select(doc, 'items[0].tags[-1]'), 'y');
  assert.equal(select(doc, '$.items[1].name'), 'b');
  assert.equal(select(doc, '["odd key"]["x.y"]'), 1);
  assert.deepEqual(select(doc, ''), doc);
  assert.throws(() => select(doc, 'items[5]'), (e: unknown) => e instanceof PathError && /index 5 is out of range at \.items \(length 2\)/.test(e.message));
  assert.throws(() => select(doc, 'items[0].price'), /no key "price" at \.items\[0\] \(keys: name, tags\)/);
  assert.throws(() => select(doc, 'items.name'), /\.items is not an object/);
});

test('the hello server works through the module backend, and its descriptions stay short', async (t) => {
  const backend = createModuleBackend({ tenant: 'test/hello', logger: silent, label: 'hello', load: async () => createHelloServer });
  await backend.start();
  t.after(() => backend.close(Date.now()));
  const list = await backend.handle(modernCtx(), req(1, 'tools/list', { _meta: envelope() }), recordingSink());
  assert.ok('result' in list);
  const tools = list.result.tools as Array<{ name: string; description: string; annotations?: Record<string, boolean> }>;
  assert.equal(tools.length, 6);
  for (const tool of tools) {
    assert.ok(tool.description.split(/\s+/).length < 50, tool.name);
    assert.equal(tool.annotations?.readOnlyHint, true, tool.name);
  }
  const time = await backend.handle(modernCtx(), call(2, 'time_in_zone', { timeZone: 'Asia/Kolkata', at: '2026-01-01T00:00:00Z' }, envelope()), recordingSink());
  assert.ok('result' in time);
  assert.deepEqual(
    { local: (time.result.structuredContent as { local: string }).local, offset: (time.result.structuredContent as { utcOffset: string }).utcOffset },
    { local: '2026-01-01T05:30:00', offset: '+05:30' },
  );
  const badJson = await backend.handle(modernCtx(), call(3, 'json_query', { json: '{oops' }, envelope()), recordingSink());
  assert.match(textOf(badJson), /^Tool "json_query" failed: the document is not valid JSON[\s\S]*fix them before calling again/);
  const uuids = await backend.handle(modernCtx(), call(4, 'uuid', { count: 3 }, envelope()), recordingSink());
  assert.equal(textOf(uuids).split('\n').length, 3);
});
