import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import {
  comparisonReportHtml,
  comparisonText,
  type MetricsRecord,
  REPORT_FILES,
  runReportHtml,
  summarizeRun,
  writeComparisonReport,
  writeRunReport,
} from '../app/src/report/index.ts';
import { nestingProblem } from './fixtures/data/markup-nesting.ts';

const T = '2026-01-01T00:00:00.000Z';
const step = (n: number, loss: number, elapsed: number): MetricsRecord => ({
  type: 'step',
  time: T,
  step: n,
  totalSteps: 6,
  epoch: 0,
  loss,
  lr: 1e-3,
  gradNorm: 1,
  tokens: 50,
  elapsed,
});
const evalAt = (n: number, loss: number, accuracy?: number): MetricsRecord => ({
  type: 'eval',
  time: T,
  step: n,
  loss,
  perplexity: Math.exp(loss),
  examples: 10,
  ...(accuracy === undefined ? {} : { accuracy }),
});

// Steps 1–4, a resume from the checkpoint at step 3 (elapsed restarts), steps 4–6.
const RESUMED: MetricsRecord[] = [
  evalAt(0, 3, 0.5),
  step(1, 3.2, 1),
  step(2, 2.9, 2),
  step(3, 2.7, 3),
  evalAt(3, 2.6, 0.6),
  { type: 'save', time: T, step: 3, dir: 'ckpt-3' },
  step(4, 9.9, 4),
  step(4, 2.5, 1),
  step(5, 2.4, 2),
  step(6, 2.3, 3),
  evalAt(6, 2.4, 0.75),
];

test('summarizeRun: before/after/best evals, resumed segments, last record per step wins', () => {
  const run = summarizeRun(RESUMED, { name: 'lora', method: 'lora', trainableParams: 1000, totalParams: 100_000 });
  assert.equal(run.steps, 6, 'steps');
  assert.equal(run.seconds, 4 + 3, 'time summed over the two segments');
  assert.equal(run.tokens, 6 * 50, 'tokens once per step');
  assert.deepEqual(
    run.trainCurve.map((p) => p.y),
    [3.2, 2.9, 2.7, 2.5, 2.4, 2.3],
    'the resumed step 4 replaces the lost one',
  );
  assert.deepEqual(run.before, { step: 0, loss: 3, perplexity: Math.exp(3), accuracy: 0.5 }, 'before = step-0 eval');
  assert.equal(run.after?.loss, 2.4, 'after = last eval');
  assert.equal(run.best?.step, 6, 'best eval (lowest loss after training)');
  assert.equal(run.finalTrainLoss, 2.3, 'final train loss');
});

test('run report: summary, chart, escaped config; comparison: table and all curves; files written atomically', () => {
  const a = summarizeRun(RESUMED, {
    name: 'lora <r=8>',
    method: 'lora',
    trainableParams: 1000,
    totalParams: 100_000,
    config: {
      lr: 0.001,
      lora: { r: 8, target_modules: ['q_proj', 'v_proj'] },
      note: '</table><script>alert(1)</script>',
    },
  });
  const b = summarizeRun([step(1, 3, 2), step(2, 2.8, 4), evalAt(2, 2.9)], {
    name: 'full',
    method: 'full',
    trainableParams: 100_000,
    totalParams: 100_000,
    before: { loss: 3.1 },
  });
  const html = runReportHtml(a);
  assert.equal(nestingProblem(html), undefined, 'well nested HTML');
  assert.ok(!html.includes('<script>') && html.includes('&#60;/table&#62;&#60;script&#62;'), 'config value escaped');
  assert.ok(html.includes('lora &#60;r=8&#62;'), 'run name escaped');
  assert.ok(
    html.includes('<td>lora.target_modules</td><td>[&#34;q_proj&#34;,&#34;v_proj&#34;]</td>'),
    'nested config flattened',
  );
  assert.ok(html.includes('1,000 (1.00%)'), 'trained parameter share');
  assert.ok(html.includes('3 → 2.4'), 'eval loss before → after');
  assert.ok(html.includes('50.0% → 75.0%'), 'accuracy before → after');
  assert.ok(html.includes('<svg'), 'embedded chart');
  assert.ok(
    runReportHtml(summarizeRun([step(1, 3, 1)], { name: 'x', method: 'm' })).includes('none (no eval data)'),
    'a run without evals says so',
  );
  const cmp = comparisonReportHtml([a, b]);
  assert.equal(nestingProblem(cmp), undefined, 'comparison well nested');
  assert.equal((cmp.match(/<path d=/g) ?? []).length, 4, 'train and eval curve per run');
  assert.ok(cmp.includes('3.1 → 2.9'), 'explicit before for run b');
  const text = comparisonText([a, b]);
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 4, 'header, rule, two runs');
  assert.ok(
    lines[0]?.startsWith('run') && lines[2]?.startsWith('lora <r=8>') && lines[3]?.startsWith('full'),
    'text table rows',
  );
  assert.equal(lines[2]?.indexOf('lora', 5), lines[0]?.indexOf('method'), 'columns aligned');
});

test('writeRunReport / writeComparisonReport put the files in the directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftkit-report-'));
  try {
    const run = summarizeRun(RESUMED, { name: 'lora', method: 'lora' });
    const paths = await writeRunReport(dir, run);
    assert.equal(paths.report, join(dir, REPORT_FILES.report), 'report path');
    assert.ok(readFileSync(paths.curve, 'utf8').startsWith('<svg'), 'loss.svg written');
    assert.ok(readFileSync(paths.report, 'utf8').startsWith('<!DOCTYPE html>'), 'report.html written');
    const cmp = await writeComparisonReport(dir, [run, { ...run, name: 'other' }]);
    assert.ok(readFileSync(cmp.text, 'utf8').includes('other'), 'comparison.txt written');
    assert.ok(readFileSync(cmp.report, 'utf8').includes('<svg'), 'comparison.html written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
