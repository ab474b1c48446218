import assert from 'node:assert/strict';
import test from 'node:test';
import { downsample, lineChartSvg, logTicks, niceTicks, smoothEma } from '../app/src/report/index.ts';
import { nestingProblem } from './fixtures/data/markup-nesting.ts';

const pathPoints = (svg: string): number[] =>
  [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => (m[1] ?? '').split(/[ML]/).filter((s) => s.trim()).length);

test('ticks: round steps covering the range; log ticks at 1-2-5 or decades', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1], '0..1');
  assert.deepEqual(niceTicks(0.13, 0.97, 4), [0.2, 0.4, 0.6, 0.8], 'inside the range only');
  assert.deepEqual(niceTicks(1, 1000, 5), [200, 400, 600, 800, 1000], 'large');
  assert.deepEqual(logTicks(0.3, 30), [0.5, 1, 2, 5, 10, 20], 'few decades: 1-2-5');
  assert.deepEqual(logTicks(1e-3, 10), [0.001, 0.01, 0.1, 1, 10], 'many decades: powers of ten');
  assert.ok(logTicks(2.1, 2.9).length >= 2, 'narrow range still gets ticks');
});

test('downsample keeps first, last and spikes; EMA is debiased', () => {
  const points = Array.from({ length: 10_000 }, (_, i) => ({ x: i, y: i === 4321 ? 100 : Math.sin(i / 50) }));
  const small = downsample(points, 200);
  assert.ok(small.length <= 200, `at most 200 points, got ${small.length}`);
  assert.deepEqual([small[0], small.at(-1)], [points[0], points.at(-1)], 'ends kept');
  assert.ok(
    small.some((p) => p.y === 100),
    'the spike survives',
  );
  assert.ok(
    small.every((p, k) => k === 0 || p.x > (small[k - 1]?.x ?? -1)),
    'x order kept',
  );
  const flat = smoothEma(
    [1, 2, 3].map((x) => ({ x, y: 5 })),
    0.9,
  );
  assert.deepEqual(
    flat.map((p) => Number(p.y.toFixed(12))),
    [5, 5, 5],
    'a constant stays constant (no bias towards 0)',
  );
  const s = smoothEma(
    [
      { x: 0, y: 0 },
      { x: 1, y: 10 },
    ],
    0.5,
  );
  // ema1 = 0.5*0 + 0.5*10 = 5 over (1 - 0.25) = 6.667
  assert.ok(Math.abs((s[1]?.y ?? 0) - 5 / 0.75) < 1e-12, 'debiased second value');
  assert.throws(() => smoothEma([], 1), RangeError, 'weight 1 rejected');
});

test('line chart: well-formed SVG, legend, escaping, 1 point, 10k points, log scale, no data', () => {
  const many = Array.from({ length: 10_000 }, (_, i) => ({ x: i + 1, y: 3 * Math.exp(-i / 3000) + 0.1 * Math.sin(i) }));
  const svg = lineChartSvg(
    [
      { name: 'train <loss> & "more"', points: many },
      { name: 'eval', points: [{ x: 5000, y: 2 }], dashed: true, color: 'red" onload="x' },
    ],
    { title: 'Loss <b>', xLabel: 'step', yLabel: 'loss', maxPoints: 300 },
  );
  assert.equal(nestingProblem(svg), undefined, 'well nested');
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"') && svg.endsWith('</svg>'), 'an SVG document');
  assert.ok(
    !svg.includes('<loss>') && !svg.includes('<b>') && !svg.includes('onload'),
    'text escaped, unsafe colour replaced',
  );
  assert.ok(svg.includes('train &#60;loss&#62; &#38; &#34;more&#34;'), 'legend text escaped');
  const counts = pathPoints(svg);
  assert.equal(counts.length, 2, 'one path per series');
  assert.ok((counts[0] ?? 0) <= 300, `downsampled to ≤ 300, got ${counts[0]}`);
  assert.ok(svg.includes('stroke-dasharray'), 'dashed series');
  assert.match(svg, /<text[^>]*>10000<\/text>/, 'x ticks reach the last step');
  const one = lineChartSvg([{ name: 'one', points: [{ x: 1, y: 2.5 }] }]);
  assert.equal(nestingProblem(one), undefined, 'single point chart is well nested');
  assert.equal((one.match(/<circle/g) ?? []).length, 1, 'single point drawn as a marker');
  assert.ok(!/NaN|Infinity/.test(one), 'no NaN coordinates for one point');
  const log = lineChartSvg(
    [
      {
        name: 'l',
        points: [
          { x: 1, y: 0 },
          { x: 2, y: 10 },
          { x: 3, y: 0.01 },
          { x: 4, y: Number.NaN },
        ],
      },
    ],
    { logY: true },
  );
  assert.ok(!/NaN|Infinity/.test(log), 'non-positive and NaN values left out on a log axis');
  assert.match(log, />0\.01</, 'log ticks');
  assert.match(log, /loss|\(log\)|<svg/, 'renders');
  assert.match(lineChartSvg([]), /no data/, 'empty chart says so');
});
