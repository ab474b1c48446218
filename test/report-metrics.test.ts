import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { isPeftkitError } from '../packages/io/src/errors.ts';
import { METRICS_ERROR_CODES, MetricsLog, parseMetricsLog, readMetricsLog } from '../app/src/report/index.ts';

const stepEvent = (step: number, loss: number) => ({
  step,
  totalSteps: 5,
  epoch: 0,
  loss,
  lr: 0.001,
  gradNorm: 0.5,
  tokens: 64,
  elapsed: step * 0.5,
});

test('metrics log: one typed, timestamped line per event, in order, read back validated', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftkit-metrics-'));
  try {
    const file = join(dir, 'metrics.jsonl');
    let clock = Date.UTC(2026, 0, 1);
    const tick = (): Date => {
      clock += 1000;
      return new Date(clock);
    };
    const log = await MetricsLog.open(file, { now: tick });
    // Not awaited one by one: the log must keep the order anyway.
    const pending = [
      log.onStep(stepEvent(1, 2.5)),
      log.onStep(stepEvent(2, Number.NaN)),
      log.onEval({ step: 2, loss: 2.25, perplexity: Number.POSITIVE_INFINITY, accuracy: 0.5, examples: 8 }),
      log.onSave({ step: 2, dir: 'ckpt-2' }),
    ];
    await Promise.all(pending);
    await log.close();
    await log.close();
    await assert.rejects(
      log.onStep(stepEvent(3, 1)),
      (e: unknown) => isPeftkitError(e, METRICS_ERROR_CODES.CLOSED),
      'closed',
    );
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 4, 'four lines');
    assert.deepEqual(
      JSON.parse(lines[0] as string),
      { type: 'step', time: '2026-01-01T00:00:01.000Z', ...stepEvent(1, 2.5) },
      'first line',
    );
    assert.equal(JSON.parse(lines[1] as string).loss, null, 'NaN stored as null');
    const records = await readMetricsLog(file);
    assert.deepEqual(
      records.map((r) => r.type),
      ['step', 'step', 'eval', 'save'],
      'types in order',
    );
    const [, nan, ev] = records;
    assert.ok(nan?.type === 'step' && Number.isNaN(nan.loss), 'null read back as NaN');
    assert.ok(ev?.type === 'eval' && ev.accuracy === 0.5 && Number.isNaN(ev.perplexity), 'eval record');
    // A second run appends; a killed writer leaves a torn last line, which the reader skips.
    const again = await MetricsLog.open(file);
    await again.onStep(stepEvent(3, 1.5));
    await again.close();
    appendFileSync(file, '{"type":"step","time":"2026-01');
    assert.equal((await readMetricsLog(file)).length, 5, 'appended record kept, torn tail skipped');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('metrics reader: malformed or invalid lines in the middle are coded errors naming the line', async () => {
  const good = JSON.stringify({ type: 'save', time: '2026-01-01T00:00:00Z', step: 1, dir: 'x' });
  const invalid = (text: string, line: number): void =>
    assert.throws(
      () => parseMetricsLog(text, 'm.jsonl'),
      (e: unknown) => isPeftkitError(e, METRICS_ERROR_CODES.INVALID) && e.details.line === line,
      `line ${line}`,
    );
  invalid(`${good}\n{oops\n${good}\n`, 2);
  invalid(`${good}\n${JSON.stringify({ type: 'step', time: '2026-01-01T00:00:00Z', step: 1 })}\n`, 2);
  invalid(`${JSON.stringify({ type: 'train', time: '2026-01-01T00:00:00Z', step: 1 })}\n`, 1);
  invalid(`${JSON.stringify({ type: 'save', time: 'yesterday', step: 1, dir: 'x' })}\n`, 1);
  invalid(`${JSON.stringify({ type: 'save', time: '2026-01-01T00:00:00Z', step: -1, dir: 'x' })}\n${good}`, 1);
  assert.equal(parseMetricsLog(`${good}\r\n\n${good}`).length, 2, 'CRLF and blank lines');
  const dir = mkdtempSync(join(tmpdir(), 'peftkit-metrics-'));
  try {
    await assert.rejects(
      readMetricsLog(join(dir, 'missing.jsonl')),
      (e: unknown) => isPeftkitError(e, METRICS_ERROR_CODES.IO),
      'missing file',
    );
    writeFileSync(join(dir, 'dir-as-file'), '');
    await assert.rejects(
      MetricsLog.open(join(dir, 'dir-as-file', 'm.jsonl')),
      (e: unknown) => isPeftkitError(e, METRICS_ERROR_CODES.IO),
      'cannot open',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
