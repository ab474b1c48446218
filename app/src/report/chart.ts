import { type ChartPoint, downsample, logTicks, niceTicks } from './chart-scale.ts';
import { escapeHtml, formatNumber } from './format.ts';

export interface ChartSeries {
  readonly name: string;
  readonly points: readonly ChartPoint[];
  /** CSS colour (#hex or a name); a palette colour by default. */
  readonly color?: string;
  readonly dashed?: boolean;
  /** Draw a dot at each point (default: when the series has at most 60 points). */
  readonly markers?: boolean;
  /** Stroke opacity in (0, 1] (e.g. raw loss behind its smoothed curve). */
  readonly opacity?: number;
  /** Leave out of the legend. */
  readonly hideInLegend?: boolean;
}

export interface ChartOptions {
  readonly title?: string;
  readonly xLabel?: string;
  readonly yLabel?: string;
  readonly width?: number;
  readonly height?: number;
  /** Logarithmic y axis; points with y ≤ 0 are left out. */
  readonly logY?: boolean;
  /** Points per series after downsampling. Default 800. */
  readonly maxPoints?: number;
}

/** Colour-blind-friendly palette (Okabe–Ito). */
export const CHART_PALETTE = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#000000',
  '#F0E442',
] as const;

const SAFE_COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,20})$/;

const fmt = (v: number): string => (Math.round(v * 100) / 100).toString();

/**
 * A self-contained SVG line chart (no dependencies, no scripts): several series with a legend, axes with ticks and
 * labels, optional log y axis. Non-finite points are skipped; each series is downsampled to `maxPoints` (min/max
 * per bucket). One point or an empty chart still renders sensibly. All text is escaped.
 */
export function lineChartSvg(series: readonly ChartSeries[], options: ChartOptions = {}): string {
  const width = options.width ?? 720;
  const height = options.height ?? 400;
  const logY = options.logY === true;
  const maxPoints = options.maxPoints ?? 800;
  const clean = series.map((s, k) => ({
    ...s,
    color:
      s.color !== undefined && SAFE_COLOR.test(s.color) ? s.color : (CHART_PALETTE[k % CHART_PALETTE.length] as string),
    points: downsample(
      s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!logY || p.y > 0)),
      maxPoints,
    ),
  }));
  const legend = clean.filter((s) => !s.hideInLegend);
  const margin = { top: options.title ? 36 : 16, right: 16, bottom: 48 + 18 * Math.ceil(legend.length / 3), left: 64 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = clean.flatMap((s) => s.points);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      'font-family="sans-serif" font-size="12">',
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (options.title)
    parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeHtml(options.title)}</text>`);
  if (all.length === 0) {
    parts.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle" fill="#666">no data</text>`, '</svg>');
    return parts.join('\n');
  }
  let [x0, x1] = extent(all.map((p) => p.x));
  let [y0, y1] = extent(all.map((p) => (logY ? Math.log10(p.y) : p.y)));
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1)
    [y0, y1] = logY ? [y0 - 0.5, y1 + 0.5] : [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number): number => margin.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number): number => margin.top + plotH - (((logY ? Math.log10(y) : y) - y0) / (y1 - y0)) * plotH;
  const bottom = margin.top + plotH;
  parts.push(`<g stroke="#e5e5e5">`);
  const yTicks = logY ? logTicks(10 ** y0, 10 ** y1) : niceTicks(y0, y1, 5);
  // Steps are integers: no 1.2, 1.4 … ticks between them.
  const integerX = all.every((p) => Number.isInteger(p.x));
  const xTicks = niceTicks(x0, x1, 6).filter((t) => !integerX || Number.isInteger(t));
  for (const t of yTicks)
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${fmt(sy(t))}" y2="${fmt(sy(t))}"/>`);
  for (const t of xTicks) parts.push(`<line x1="${fmt(sx(t))}" x2="${fmt(sx(t))}" y1="${margin.top}" y2="${bottom}"/>`);
  parts.push('</g>');
  parts.push(`<g fill="#333">`);
  for (const t of yTicks)
    parts.push(
      `<text x="${margin.left - 6}" y="${fmt(sy(t) + 4)}" text-anchor="end">${escapeHtml(formatNumber(t, 3))}</text>`,
    );
  for (const t of xTicks)
    parts.push(
      `<text x="${fmt(sx(t))}" y="${bottom + 16}" text-anchor="middle">${escapeHtml(formatNumber(t, 4))}</text>`,
    );
  parts.push('</g>');
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  );
  if (options.xLabel)
    parts.push(
      `<text x="${margin.left + plotW / 2}" y="${bottom + 34}" ` +
        `text-anchor="middle">${escapeHtml(options.xLabel)}</text>`,
    );
  if (options.yLabel) {
    const cy = margin.top + plotH / 2;
    parts.push(
      `<text x="16" y="${cy}" text-anchor="middle" ` +
        `transform="rotate(-90 16 ${cy})">${escapeHtml(options.yLabel + (logY ? ' (log)' : ''))}</text>`,
    );
  }
  for (const s of clean) {
    if (s.points.length === 0) continue;
    const opacity = s.opacity !== undefined && s.opacity > 0 && s.opacity <= 1 ? ` stroke-opacity="${s.opacity}"` : '';
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${fmt(sx(p.x))} ${fmt(sy(p.y))}`).join(' ');
    parts.push(
      `<path d="${d}" fill="none" stroke="${s.color}" ` +
        `stroke-width="1.8"${opacity}${dash}><title>${escapeHtml(s.name)}</title></path>`,
    );
    if (s.markers ?? s.points.length <= 60) {
      parts.push(
        `<g fill="${s.color}">` +
          `${s.points.map((p) => `<circle cx="${fmt(sx(p.x))}" cy="${fmt(sy(p.y))}" r="3"/>`).join('')}</g>`,
      );
    }
  }
  legend.forEach((s, k) => {
    const lx = margin.left + (k % 3) * (plotW / 3);
    const ly = bottom + 52 + 18 * Math.floor(k / 3);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(
      `<line x1="${fmt(lx)}" x2="${fmt(lx + 22)}" y1="${ly - 4}" y2="${ly - 4}" ` +
        `stroke="${s.color}" stroke-width="2.5"${dash}/>`,
    );
    parts.push(`<text x="${fmt(lx + 28)}" y="${ly}">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function extent(values: readonly number[]): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}
