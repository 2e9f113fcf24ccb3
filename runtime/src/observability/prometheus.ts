/**
 * A small Prometheus registry: counters, gauges and histograms with labels,
 * rendered in the text exposition format (0.0.4) at scrape time.
 *
 * Berth used prom-client until its cost showed in the stdio runtime's memory
 * budget: loading it kept about 1.7 MB of live heap and 14 MB more resident
 * at start (it pulls in Node's cluster and https modules, a t-digest for its
 * summaries and the OpenTelemetry API), and the old generation's next full
 * collection is set from the live heap. Berth needs a fraction of it. The
 * API keeps prom-client's shape where Berth used it (`inc`, `set`, `observe`,
 * `get().values`, `getSingleMetric`, `metrics()`), and a test renders the same
 * series through both and compares them.
 */

/** Label values by label name; a missing label is left out of the series. */
export type Labels<L extends string = string> = Partial<Record<L, string | number>>;

/** One sample, as `get()` reports it. */
export interface MetricSample {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  /** Set on a histogram's `_bucket`, `_sum` and `_count` samples. */
  readonly metricName?: string;
}

/** A metric's samples, as `get()` reports them. */
export interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly values: MetricSample[];
}

export type MetricType = 'counter' | 'gauge' | 'histogram';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricOptions<L extends string, M> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  /** Registries the metric joins at construction. */
  registers?: readonly Registry[];
  /** Runs before each scrape, with the metric as `this`, to refresh its values. */
  collect?: (this: M) => void | Promise<void>;
}

/** Prometheus text for a number (`+Inf`, `-Inf`, `NaN` spelled the way the format wants). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(value: string | number): string {
  return typeof value === 'number' ? formatValue(value) : escapeHelp(value).replace(/"/g, '\\"');
}

function formatLabels(labels: Record<string, string | number>): string {
  let out = '';
  for (const name in labels) {
    const value = labels[name];
    if (value === undefined) continue;
    out += `${out ? ',' : ''}${name}="${escapeLabelValue(value)}"`;
  }
  return out ? `{${out}}` : '';
}

/** What the metric types share: identity, label handling and registration. */
abstract class Metric<L extends string, S extends { labels: Labels<L> }> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  abstract readonly type: MetricType;
  /** Series by the key of their label values; grows with label cardinality only. */
  protected readonly series = new Map<string, S>();
  readonly collect: (() => void | Promise<void>) | undefined;

  constructor(options: MetricOptions<L, never>) {
    if (!METRIC_NAME.test(options.name)) throw new Error(`invalid metric name ${JSON.stringify(options.name)}`);
    const labelNames = options.labelNames ?? [];
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__')) throw new Error(`invalid label name ${JSON.stringify(label)} on ${options.name}`);
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = labelNames;
    this.collect = (options.collect as ((this: this) => void | Promise<void>) | undefined)?.bind(this);
    for (const registry of options.registers ?? []) registry.register(this as unknown as AnyMetric);
  }

  /** A new, empty series for `labels` (a copy the metric owns). */
  protected abstract newSeries(labels: Labels<L>): S;

  /** The series for `labels`, created on first use. */
  protected seriesOf(labels: Labels<L> | undefined): S {
    const key = this.keyOf(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      const own = { ...labels } as Labels<L>;
      for (const name in own) {
        if (!this.labelNames.includes(name)) throw new Error(`label "${name}" is not one of ${this.name}'s labels (${this.labelNames.join(', ') || 'none'})`);
      }
      s = this.newSeries(own);
      this.series.set(key, s);
    }
    return s;
  }

  private keyOf(labels: Labels<L> | undefined): string {
    const names = this.labelNames;
    if (names.length === 0) return '';
    let key = '';
    for (let i = 0; i < names.length; i++) {
      const value = labels?.[names[i]!];
      // \u0001 keeps a missing label apart from an empty one.
      key += value === undefined ? '\u0001\u0000' : `${value}\u0000`;
    }
    return key;
  }

  /** Drops every series (the next write starts from zero). */
  reset(): void {
    this.series.clear();
  }

  /** The current samples, after running `collect`. */
  async get(): Promise<MetricSnapshot> {
    await this.collect?.();
    return this.snapshot();
  }

  /** The current samples, without collecting. */
  abstract snapshot(): MetricSnapshot;
}

interface ValueSeries<L extends string> {
  labels: Labels<L>;
  value: number;
}

/** `inc(labels, value)` / `inc(value)`: the labels part of the arguments. */
const labelsArg = <L extends string>(labels: Labels<L> | number | undefined): Labels<L> | undefined => (typeof labels === 'number' ? undefined : labels);

/** The value part of the same arguments, `fallback` when none is given. */
const valueArg = (labels: object | number | undefined, value: number | undefined, fallback: number): number => (typeof labels === 'number' ? labels : (value ?? fallback));

abstract class ValueMetric<L extends string> extends Metric<L, ValueSeries<L>> {
  protected newSeries(labels: Labels<L>): ValueSeries<L> {
    return { labels, value: 0 };
  }

  snapshot(): MetricSnapshot {
    const values: MetricSample[] = [];
    for (const s of this.series.values()) values.push({ labels: s.labels as Record<string, string | number>, value: s.value });
    return { name: this.name, help: this.help, type: this.type, values };
  }
}

/** A monotonically increasing count. */
export class Counter<L extends string = string> extends ValueMetric<L> {
  readonly type = 'counter';

  constructor(options: MetricOptions<L, Counter<L>>) {
    super(options as MetricOptions<L, never>);
  }

  /** Adds `value` (default 1) to the series of `labels`. */
  inc(labels?: Labels<L> | number, value?: number): void {
    const v = valueArg(labels, value, 1);
    if (!(v >= 0)) throw new Error(`${this.name}: a counter only goes up (got ${v})`);
    this.seriesOf(labelsArg(labels)).value += v;
  }
}

/** A value that goes up and down. */
export class Gauge<L extends string = string> extends ValueMetric<L> {
  readonly type = 'gauge';

  constructor(options: MetricOptions<L, Gauge<L>>) {
    super(options as MetricOptions<L, never>);
  }

  /** Sets the series of `labels` (or the unlabelled series) to `value`. */
  set(labels: Labels<L> | number, value?: number): void {
    this.seriesOf(labelsArg(labels)).value = valueArg(labels, value, 0);
  }

  /** Adds `value` (default 1). */
  inc(labels?: Labels<L> | number, value?: number): void {
    this.seriesOf(labelsArg(labels)).value += valueArg(labels, value, 1);
  }

  /** Subtracts `value` (default 1). */
  dec(labels?: Labels<L> | number, value?: number): void {
    this.seriesOf(labelsArg(labels)).value -= valueArg(labels, value, 1);
  }
}

interface HistogramSeries<L extends string> {
  labels: Labels<L>;
  /** Observations per bucket, not cumulative (made cumulative when rendered). */
  counts: Float64Array;
  sum: number;
  count: number;
}

export interface HistogramOptions<L extends string> extends MetricOptions<L, Histogram<L>> {
  /** Upper bounds, ascending; `+Inf` is implied. */
  buckets?: readonly number[];
}

/** The upper bounds of a histogram's buckets (`+Inf` implied), or an error naming the metric. */
function histogramBuckets<L extends string>(options: HistogramOptions<L>): readonly number[] {
  if ((options.labelNames ?? []).includes('le' as L)) throw new Error(`${options.name}: "le" is reserved for buckets`);
  const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)].filter((b) => b !== Infinity);
  for (let i = 1; i < buckets.length; i++) {
    if (!(buckets[i]! > buckets[i - 1]!)) throw new Error(`${options.name}: buckets must increase`);
  }
  return buckets;
}

/** Observations counted into buckets, with their sum and count. */
export class Histogram<L extends string = string> extends Metric<L, HistogramSeries<L>> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(options: HistogramOptions<L>) {
    // Checked before the base constructor registers the metric: a refused histogram joins no registry.
    const buckets = histogramBuckets(options);
    super(options as MetricOptions<L, never>);
    this.buckets = buckets;
  }

  protected newSeries(labels: Labels<L>): HistogramSeries<L> {
    return { labels, counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
  }

  /** Counts `value` into the series of `labels`. */
  observe(labels: Labels<L> | number, value?: number): void {
    const v = valueArg(labels, value, 0);
    const s = this.seriesOf(labelsArg(labels));
    const bounds = this.buckets;
    for (let i = 0; i < bounds.length; i++) {
      if (v <= bounds[i]!) {
        s.counts[i]!++;
        break;
      }
    }
    s.sum += v;
    s.count++;
  }

  snapshot(): MetricSnapshot {
    const values: MetricSample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      const labels = s.labels as Record<string, string | number>;
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ labels: { ...labels, le: this.buckets[i]! }, value: cumulative, metricName: bucket });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: s.count, metricName: bucket });
      values.push({ labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values };
  }
}

export type AnyMetric = Counter | Gauge | Histogram;

/** Text of one metric: HELP, TYPE and a line per sample. */
export function renderMetric(snapshot: MetricSnapshot): string {
  const lines = [`# HELP ${snapshot.name} ${escapeHelp(snapshot.help)}`, `# TYPE ${snapshot.name} ${snapshot.type}`];
  for (const sample of snapshot.values) lines.push(`${sample.metricName ?? snapshot.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
  return lines.join('\n');
}

/** A set of uniquely named metrics rendered together. */
export class Registry {
  readonly contentType = PROMETHEUS_CONTENT_TYPE;
  readonly #metrics = new Map<string, AnyMetric>();

  /** Adds `metric`; a different metric of the same name is an error. */
  register(metric: AnyMetric): void {
    const existing = this.#metrics.get(metric.name);
    if (existing !== undefined && existing !== metric) throw new Error(`a metric named ${metric.name} is already registered`);
    this.#metrics.set(metric.name, metric);
  }

  /** The metric named `name`, if registered. */
  getSingleMetric(name: string): AnyMetric | undefined {
    return this.#metrics.get(name);
  }

  /** Runs every metric's `collect`, then renders all of them. */
  async metrics(): Promise<string> {
    const metrics = [...this.#metrics.values()];
    await Promise.all(metrics.map((m) => m.collect?.()));
    return `${metrics.map((m) => renderMetric(m.snapshot())).join('\n\n')}\n`;
  }
}
