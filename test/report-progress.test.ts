import assert from 'node:assert/strict';
import test from 'node:test';
import { ProgressBar } from '../app/src/report/index.ts';
import type { StepEvent } from '../core/src/train/types.ts';

function sink(isTTY: boolean): { chunks: string[]; write(s: string): void; isTTY: boolean } {
  const chunks: string[] = [];
  return { chunks, isTTY, write: (s: string) => void chunks.push(s) };
}

const step = (n: number, total = 10): StepEvent => ({
  step: n,
  totalSteps: total,
  epoch: 0,
  loss: 3 - n * 0.1,
  lr: 1e-3,
  gradNorm: 1,
  tokens: 100,
  elapsed: n,
});

test('non-TTY: plain lines every N steps and at the end, eval/save lines, rates', () => {
  const out = sink(false);
  const bar = new ProgressBar(out, { every: 4 });
  for (let n = 1; n <= 10; n++) bar.onStep(step(n));
  bar.onEval({ step: 10, loss: 2.5, perplexity: Math.exp(2.5), accuracy: 0.875, examples: 16 });
  bar.onSave({ step: 10, dir: '/tmp/run/checkpoint-10' });
  bar.close();
  const lines = out.chunks.join('').split('\n').filter(Boolean);
  assert.equal(out.chunks.join('').includes('\r'), false, 'no carriage returns off a TTY');
  assert.deepEqual(
    lines.slice(0, 3).map((l) => l.split('  ')[0]),
    ['step 4/10', 'step 8/10', 'step 10/10'],
    'every 4 steps plus the last',
  );
  // 100 tokens per second of elapsed time; at step 4 after 4 s, 6 steps at 1 s each remain.
  assert.match(lines[0] ?? '', /loss 2\.6 {2}lr 1\.00e-3 {2}100 tok\/s {2}ETA 0:06$/, 'step line content');
  assert.match(lines[2] ?? '', /ETA 0:00$/, 'no time left at the end');
  assert.match(
    lines[3] ?? '',
    /^eval @ step 10: loss 2\.5 {2}perplexity 12\.18 {2}accuracy 87\.5% {2}\(16 examples\)$/,
    'eval line',
  );
  assert.equal(lines[4], 'saved checkpoint @ step 10: /tmp/run/checkpoint-10', 'save line');
});

test('TTY: one line rewritten with \\r, eval printed above the bar, newline on close', () => {
  const out = sink(true);
  const bar = new ProgressBar(out, { barWidth: 10 });
  bar.onStep(step(1, 4));
  bar.onStep({ ...step(2, 4), loss: 12.345678 });
  bar.onStep(step(3, 4));
  bar.onEval({ step: 3, loss: 2, perplexity: Math.exp(2), examples: 4 });
  bar.onStep(step(4, 4));
  bar.close();
  const text = out.chunks.join('');
  assert.equal(text.split('\n').length - 1, 2, 'only the eval line and the final newline');
  assert.ok(out.chunks[0]?.startsWith('\r[###.......]  25% step 1/4'), `first draw: ${JSON.stringify(out.chunks[0])}`);
  const afterLong = out.chunks[2] ?? '';
  const longer = (out.chunks[1] ?? '').length;
  assert.equal(afterLong.length >= longer, true, 'a shorter line is padded to erase the longer one');
  assert.ok(text.includes('\neval @ step 3: loss 2'.slice(1)), 'eval line present');
  const evalAt = out.chunks.findIndex((c) => c.startsWith('eval @'));
  assert.ok(out.chunks[evalAt - 1]?.startsWith('\r '), 'the bar is cleared before the eval line');
  assert.ok(out.chunks[evalAt + 1]?.startsWith('\r[########'), 'the bar is redrawn after it');
  assert.ok(out.chunks.at(-2)?.startsWith('\r[##########] 100% step 4/4'), 'last draw is complete');
  assert.equal(out.chunks.at(-1), '\n', 'close ends the line');
});

test('tty option overrides the sink; zero elapsed gives unknown rates, not Infinity', () => {
  const out = sink(true);
  const bar = new ProgressBar(out, { tty: false, every: 1 });
  bar.onStep({ ...step(1), elapsed: 0 });
  assert.match(out.chunks[0] ?? '', /– tok\/s {2}ETA \?\n$/, 'unknown rates');
});
