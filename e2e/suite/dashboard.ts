/** Reading the Grafana dashboard the chart ships: its panels, queries and the metric names they use. */
import { readFileSync } from 'node:fs';

export interface DashboardTarget {
  expr: string;
  legendFormat?: string;
  refId?: string;
}

export interface DashboardPanel {
  id: number;
  title: string;
  type: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
  fieldConfig?: { defaults?: { unit?: string } };
}

export interface Dashboard {
  title: string;
  uid: string;
  panels: DashboardPanel[];
  templating?: { list: Array<{ name: string; type: string; query?: unknown }> };
}

/** Parses the dashboard file. */
export function readDashboard(file: string): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

/** Every panel, rows' collapsed children included. */
export function allPanels(d: Dashboard): DashboardPanel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every PromQL expression with its panel. */
export function dashboardQueries(d: Dashboard): Array<{ panel: DashboardPanel; target: DashboardTarget }> {
  return allPanels(d).flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));
}

/** Metric names (series names, with _bucket/_sum/_count suffixes as written) used by any panel. */
export function metricNamesIn(expr: string): string[] {
  return [...new Set(expr.match(/\bberth_[a-z0-9_]+\b/g) ?? [])];
}

/** The sorted metric names every panel of the dashboard file queries. */
export function dashboardMetricNames(file: string): string[] {
  return [...new Set(dashboardQueries(readDashboard(file)).flatMap(({ target }) => metricNamesIn(target.expr)))].sort();
}
