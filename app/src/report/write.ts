import { join } from 'node:path';
import { atomicWriteFile } from '@peftkit/io';
import {
  comparisonReportHtml,
  comparisonText,
  lossChartSvg,
  lossPanelsSvg,
  type ReportOptions,
  runReportHtml,
} from './html.ts';
import type { RunSummary } from './summary.ts';

/** File names inside a run's output directory. */
export const REPORT_FILES = {
  metrics: 'metrics.jsonl',
  curve: 'loss.svg',
  report: 'report.html',
  comparison: 'comparison.html',
  comparisonCurve: 'comparison.svg',
  comparisonText: 'comparison.txt',
} as const;

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Writes `loss.svg` and `report.html` into `dir` (atomically each); returns their paths. */
export async function writeRunReport(
  dir: string,
  run: RunSummary,
  options: ReportOptions = {},
): Promise<{ curve: string; report: string }> {
  const curve = join(dir, REPORT_FILES.curve);
  const report = join(dir, REPORT_FILES.report);
  await atomicWriteFile(curve, utf8(lossChartSvg([run], options)));
  await atomicWriteFile(report, utf8(runReportHtml(run, options)));
  return { curve, report };
}

/** Writes `comparison.html`, `comparison.svg` and `comparison.txt` into `dir` (atomically each). */
export async function writeComparisonReport(
  dir: string,
  runs: readonly RunSummary[],
  options: ReportOptions = {},
): Promise<{ report: string; curve: string; text: string }> {
  const report = join(dir, REPORT_FILES.comparison);
  const curve = join(dir, REPORT_FILES.comparisonCurve);
  const text = join(dir, REPORT_FILES.comparisonText);
  await atomicWriteFile(curve, utf8(lossPanelsSvg(runs, options)));
  await atomicWriteFile(text, utf8(comparisonText(runs)));
  await atomicWriteFile(report, utf8(comparisonReportHtml(runs, options)));
  return { report, curve, text };
}
