// Public entry of peftkit/report: progress display, metrics log, SVG charts and HTML reports.
export { type ChartOptions, type ChartSeries, CHART_PALETTE, lineChartSvg } from './chart.ts';
export { type ChartPoint, downsample, logTicks, niceTicks, smoothEma } from './chart-scale.ts';
export { escapeHtml, formatCount, formatDuration, formatNumber, formatPercent } from './format.ts';
export {
  comparisonReportHtml,
  comparisonRows,
  comparisonText,
  flattenConfig,
  lossChartSvg,
  lossPanelsSvg,
  type ReportOptions,
  runReportHtml,
  runSeries,
} from './html.ts';
export {
  METRICS_ERROR_CODES,
  MetricsLog,
  type MetricsRecord,
  metricsLine,
  parseMetricsLog,
  readMetricsLog,
} from './metrics.ts';
export {
  formatEvalLine,
  formatSaveLine,
  formatStepLine,
  ProgressBar,
  type ProgressOptions,
  type ProgressRates,
  type TextSink,
} from './progress.ts';
export { type EvalSnapshot, type RunInfo, type RunSummary, summarizeRun } from './summary.ts';
export { REPORT_FILES, writeComparisonReport, writeRunReport } from './write.ts';
