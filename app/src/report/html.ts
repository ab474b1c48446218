import { lineChartSvg, type ChartSeries, CHART_PALETTE } from './chart.ts';
import { smoothEma } from './chart-scale.ts';
import { escapeHtml, formatCount, formatDuration, formatNumber, formatPercent } from './format.ts';
import type { EvalSnapshot, RunSummary } from './summary.ts';

export interface ReportOptions {
  readonly title?: string;
  /** EMA weight for the train-loss curve (0 = raw only). Default 0.9 when there are more than 20 steps, else 0. */
  readonly smoothing?: number;
  readonly logY?: boolean;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.9em}`;

function page(title: string, body: string): string {
  return (
    `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${escapeHtml(title)}</title>\n` +
    `<style>${STYLE}</style>\n</head>\n<body>\n<h1>${escapeHtml(title)}</h1>\n${body}\n</body>\n</html>\n`
  );
}

function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  numeric: (col: number) => boolean = () => false,
): string {
  const head = header.every((h) => h === '')
    ? ''
    : `<tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>\n`;
  const body = rows
    .map((r) => `<tr>${r.map((c, k) => `<td${numeric(k) ? ' class="num"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table>\n${head}${body}\n</table>`;
}

/** Nested config objects flattened to dotted keys, values as JSON. */
export function flattenConfig(config: Readonly<Record<string, unknown>>, prefix = ''): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(config)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      out.push(...flattenConfig(value as Record<string, unknown>, path));
    else out.push([path, value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value))]);
  }
  return out;
}

function trainedShare(run: RunSummary): string {
  // Frozen tensors an adapter holds (e.g. shared random projections) are shown apart: they are not trained.
  const frozen = run.frozenParams ? ` + ${formatCount(run.frozenParams)} frozen` : '';
  const trainable = formatCount(run.trainableParams);
  if (run.trainableParams === undefined || run.totalParams === undefined || run.totalParams <= 0)
    return `${trainable}${frozen}`;
  return `${trainable} (${formatPercent(run.trainableParams / run.totalParams, 2)})${frozen}`;
}

const perplexity = (e: EvalSnapshot | undefined): number | undefined =>
  e?.perplexity ?? (e?.loss === undefined ? undefined : Math.exp(e.loss));
const arrow = (a: string, b: string): string => `${a} → ${b}`;

/** Train loss (raw, faint, and smoothed) and eval loss of each run as chart series. */
export function runSeries(runs: readonly RunSummary[], smoothing?: number): ChartSeries[] {
  return runs.flatMap((run, k) => {
    const color = CHART_PALETTE[k % CHART_PALETTE.length] as string;
    const weight = smoothing ?? (run.trainCurve.length > 20 ? 0.9 : 0);
    const prefix = runs.length > 1 ? `${run.name}: ` : '';
    const series: ChartSeries[] = [];
    if (weight > 0) {
      series.push({
        name: `${prefix}train loss (raw)`,
        points: run.trainCurve,
        color,
        opacity: 0.25,
        markers: false,
        hideInLegend: true,
      });
      series.push({
        name: `${prefix}train loss (EMA ${weight})`,
        points: smoothEma(run.trainCurve, weight),
        color,
        markers: false,
      });
    } else {
      series.push({ name: `${prefix}train loss`, points: run.trainCurve, color });
    }
    if (run.evalCurve.length > 0)
      series.push({ name: `${prefix}eval loss`, points: run.evalCurve, color, dashed: true, markers: true });
    return series;
  });
}

export function lossChartSvg(runs: readonly RunSummary[], options: ReportOptions = {}): string {
  return lineChartSvg(runSeries(runs, options.smoothing), {
    title: runs.length > 1 ? 'Loss by run' : `Loss: ${runs[0]?.name ?? ''}`,
    xLabel: 'step',
    yLabel: 'loss',
    logY: options.logY ?? false,
  });
}

/**
 * One loss chart per run stacked in a single SVG: runs on different tasks have losses of different scales, and a
 * shared y axis flattens all but the largest (each panel is a nested <svg> with its own axes).
 */
export function lossPanelsSvg(runs: readonly RunSummary[], options: ReportOptions = {}): string {
  if (runs.length <= 1) return lossChartSvg(runs, options);
  const width = 720;
  const height = 400;
  const panels = runs.map((run, k) =>
    lossChartSvg([run], options).replace('<svg xmlns="http://www.w3.org/2000/svg"', `<svg x="0" y="${k * height}"`),
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height * runs.length}" ` +
      `viewBox="0 0 ${width} ${height * runs.length}">`,
    ...panels,
    '</svg>',
  ].join('\n');
}

/** A self-contained HTML page for one run: summary table, loss chart, config table. */
export function runReportHtml(run: RunSummary, options: ReportOptions = {}): string {
  const summary: [string, string][] = [
    ['run', run.name],
    ['method', run.method],
    ['parameters trained', trainedShare(run)],
    ['steps', formatCount(run.steps)],
    ['time', formatDuration(run.seconds)],
    ['tokens', formatCount(run.tokens)],
    ['tokens/s', formatCount(run.seconds > 0 ? run.tokens / run.seconds : undefined)],
    ['final train loss', formatNumber(run.finalTrainLoss)],
  ];
  if (run.before === undefined && run.after === undefined) summary.push(['evaluation', 'none (no eval data)']);
  else {
    summary.push(
      ['eval loss before → after', arrow(formatNumber(run.before?.loss), formatNumber(run.after?.loss))],
      ['best eval loss', run.best === undefined ? '–' : `${formatNumber(run.best.loss)} (step ${run.best.step})`],
      ['perplexity before → after', arrow(formatNumber(perplexity(run.before)), formatNumber(perplexity(run.after)))],
    );
  }
  if (run.after?.accuracy !== undefined || run.before?.accuracy !== undefined) {
    summary.push([
      'accuracy before → after',
      arrow(formatPercent(run.before?.accuracy), formatPercent(run.after?.accuracy)),
    ]);
  }
  const config =
    run.config === undefined ? '<p>No config recorded.</p>' : table(['key', 'value'], flattenConfig(run.config));
  return page(
    options.title ?? `peftkit run: ${run.name}`,
    `<h2>Summary</h2>\n${table(['', ''], summary)}\n<h2>Loss</h2>\n` +
      `${lossChartSvg([run], options)}\n<h2>Config</h2>\n${config}`,
  );
}

/** Rows of the comparison table (also used for the console). */
export function comparisonRows(runs: readonly RunSummary[]): { header: string[]; rows: string[][] } {
  const anyAccuracy = runs.some((r) => r.after?.accuracy !== undefined);
  const header = [
    'run',
    'method',
    'trained params',
    'steps',
    'time',
    'tokens/s',
    'eval loss before → after',
    'perplexity before → after',
  ];
  if (anyAccuracy) header.push('accuracy before → after');
  const rows = runs.map((run) => {
    const row = [
      run.name,
      run.method,
      trainedShare(run),
      formatCount(run.steps),
      formatDuration(run.seconds),
      formatCount(run.seconds > 0 ? run.tokens / run.seconds : undefined),
      arrow(formatNumber(run.before?.loss), formatNumber(run.after?.loss)),
      arrow(formatNumber(perplexity(run.before)), formatNumber(perplexity(run.after))),
    ];
    if (anyAccuracy) row.push(arrow(formatPercent(run.before?.accuracy), formatPercent(run.after?.accuracy)));
    return row;
  });
  return { header, rows };
}

/** A plain-text comparison table for the console (columns padded; no escaping needed). */
export function comparisonText(runs: readonly RunSummary[]): string {
  const { header, rows } = comparisonRows(runs);
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, k) => c.padEnd(widths[k] as number))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

/** A self-contained HTML page comparing runs: the before/after table, every curve, each run's config. */
export function comparisonReportHtml(runs: readonly RunSummary[], options: ReportOptions = {}): string {
  const { header, rows } = comparisonRows(runs);
  const configs = runs
    .map(
      (r) =>
        `<h3>${escapeHtml(r.name)}</h3>\n` +
        `${r.config === undefined ? '<p>No config recorded.</p>' : table(['key', 'value'], flattenConfig(r.config))}`,
    )
    .join('\n');
  // one chart per run: each task's loss has its own scale (see lossPanelsSvg)
  const charts = runs.map((r) => lossChartSvg([r], options)).join('\n');
  return page(
    options.title ?? 'peftkit comparison',
    `<h2>Results</h2>\n${table(header, rows, (k) => k >= 2)}\n<h2>Loss</h2>\n${charts}\n<h2>Configs</h2>\n${configs}`,
  );
}
