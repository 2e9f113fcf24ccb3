/** The small Prometheus registry renders what prom-client renders for the same writes, and refuses what Prometheus would reject. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as promClient from 'prom-client';
import { Counter, Gauge, Histogram, Registry, formatValue } from '../src/observability/prometheus.ts';

/** A deterministic generator, so a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const AWKWARD = ['', 'plain', 'with space', 'quote"d', 'back\\slash', 'new\nline', 'tab\tand ünïcödé →', '{brace}=,', '0', '1e3'];

/** prom-client writes a histogram's `le` first; this puts it last, where this registry writes it. */
function normalise(text: string): string {
  return text.replace(/^(\w+_bucket)\{le="([^"]*)",(.*)\} /gm, '$1{$3,le="$2"} ');
}

test('random counter, gauge and histogram writes render the same text as prom-client', async () => {
  for (const seed of [1, 2, 3, 42, 2026]) {
    const next = random(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const ours = new Registry();
    const ref = new promClient.Registry();
    const help = `Help with a back\\slash and a\nnewline (seed ${seed}).`;
    const spec = { help, labelNames: ['tool', 'outcome'] as const };
    const c = [new Counter({ name: 'c_total', ...spec, registers: [ours] }), new promClient.Counter({ name: 'c_total', ...spec, registers: [ref] })] as const;
    const g = [new Gauge({ name: 'g', ...spec, registers: [ours] }), new promClient.Gauge({ name: 'g', ...spec, registers: [ref] })] as const;
    const buckets = [0.001, 0.01, 0.1, 1, 10];
    const h = [new Histogram({ name: 'h_seconds', ...spec, buckets, registers: [ours] }), new promClient.Histogram({ name: 'h_seconds', ...spec, buckets, registers: [ref] })] as const;
    const plain = [new Counter({ name: 'plain_total', help: 'No labels.', registers: [ours] }), new promClient.Counter({ name: 'plain_total', help: 'No labels.', registers: [ref] })] as const;
    for (let i = 0; i < 400; i++) {
      const labels = { tool: pick(AWKWARD), outcome: pick(['ok', 'error', 'timeout']) };
      const value = pick([0, 1, 0.5, 2.5, 1e-4, 12, 1e6]);
      switch (pick(['c', 'g', 'gi', 'h', 'p'])) {
        case 'c':
          c[0].inc(labels, value);
          c[1].inc(labels, value);
          break;
        case 'g':
          g[0].set(labels, value - 3);
          g[1].set(labels, value - 3);
          break;
        case 'gi':
          g[0].inc(labels);
          g[1].inc(labels);
          break;
        case 'h':
          h[0].observe(labels, value);
          h[1].observe(labels, value);
          break;
        default:
          plain[0].inc();
          plain[1].inc();
      }
    }
    assert.equal(await ours.metrics(), normalise(await ref.metrics()), `seed ${seed}`);
  }
});

test('histograms count each observation into every bucket at or above it, plus sum and count', async () => {
  const registry = new Registry();
  const h = new Histogram({ name: 'latency_seconds', help: 'h', buckets: [0.1, 1], registers: [registry] });
  for (const v of [0.05, 0.1, 0.5, 3]) h.observe(v);
  const samples = (await h.get()).values.map((s) => [s.metricName, s.labels['le'], s.value]);
  assert.deepEqual(samples, [
    ['latency_seconds_bucket', 0.1, 2],
    ['latency_seconds_bucket', 1, 3],
    ['latency_seconds_bucket', '+Inf', 4],
    ['latency_seconds_sum', undefined, 3.65],
    ['latency_seconds_count', undefined, 4],
  ]);
});

test('collect refreshes a gauge at scrape time, with the gauge as this, and may be async', async () => {
  const registry = new Registry();
  let live = 3;
  new Gauge({
    name: 'live_things',
    help: 'x',
    registers: [registry],
    collect() {
      this.set(live);
    },
  });
  new Gauge({
    name: 'later',
    help: 'x',
    registers: [registry],
    async collect() {
      await new Promise((resolve) => setImmediate(resolve));
      this.set(7);
    },
  });
  assert.match(await registry.metrics(), /^live_things 3$/m);
  live = 9;
  const text = await registry.metrics();
  assert.match(text, /^live_things 9$/m);
  assert.match(text, /^later 7$/m);
  assert.equal(registry.contentType, 'text/plain; version=0.0.4; charset=utf-8');
});

test('what Prometheus would reject is refused with the metric named', () => {
  const registry = new Registry();
  new Counter({ name: 'taken_total', help: 'x', registers: [registry] });
  assert.throws(() => new Counter({ name: 'taken_total', help: 'x', registers: [registry] }), /taken_total is already registered/);
  assert.throws(() => new Counter({ name: '9lives', help: 'x' }), /invalid metric name "9lives"/);
  assert.throws(() => new Counter({ name: 'ok_total', help: 'x', labelNames: ['bad-label'] }), /invalid label name "bad-label" on ok_total/);
  assert.throws(() => new Counter({ name: 'ok_total', help: 'x', labelNames: ['__reserved'] }), /invalid label name/);
  assert.throws(() => new Histogram({ name: 'h', help: 'x', labelNames: ['le'] }), /"le" is reserved/);
  assert.throws(() => new Histogram({ name: 'h', help: 'x', buckets: [1, 1], registers: [registry] }), /h: buckets must increase/);
  assert.equal(registry.getSingleMetric('h'), undefined, 'a refused histogram joins no registry');
  const c = new Counter({ name: 'calls_total', help: 'x', labelNames: ['tool'] });
  assert.throws(() => c.inc({ tool: 'a' }, -1), /calls_total: a counter only goes up/);
  assert.throws(() => c.inc({ tool: 'a' }, Number.NaN), /only goes up/);
  assert.throws(() => c.inc({ nope: 'a' } as never), /label "nope" is not one of calls_total's labels \(tool\)/);
  c.inc({ tool: 'a' });
  assert.equal(registry.getSingleMetric('calls_total'), undefined, 'a metric without registers joins no registry');
});

test('a missing label is a series of its own, apart from an empty one; reset drops every series', async () => {
  const g = new Gauge({ name: 'streams', help: 'x', labelNames: ['kind', 'era'] });
  g.set({ kind: 'post' }, 1);
  g.set({ kind: 'post', era: '' }, 2);
  g.inc({ kind: 'post' });
  g.dec({ kind: 'get', era: 'legacy' }, 4);
  assert.deepEqual((await g.get()).values, [
    { labels: { kind: 'post' }, value: 2 },
    { labels: { kind: 'post', era: '' }, value: 2 },
    { labels: { kind: 'get', era: 'legacy' }, value: -4 },
  ]);
  g.reset();
  assert.deepEqual((await g.get()).values, []);
});

test('values are spelled the way the text format wants', () => {
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(-Infinity), '-Inf');
  assert.equal(formatValue(Number.NaN), 'NaN');
  assert.equal(formatValue(1e21), '1e+21');
  assert.equal(formatValue(0.1), '0.1');
});
