/**
 * QLoRA on real weights: the stories260K checkpoint (test/fixtures) quantized with NF4/FP4 (± double quantization):
 * per-weight error statistics, logit drift against the float model and greedy next-token agreement on a story.
 * Usage: node --import tsx bench/qlora-real.ts
 */
import type { LinearSite, ModelGraph } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { QuantizedLinearBase, quantizeModel } from '@peftkit/qlora';
import { stories260K } from './inference-models.ts';

const kernel = await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } });
const tf = kernel.tf;
const rows = [
  '| quantization | bits/param | weight RMS error / RMS | max abs logit change | ' +
    'mean abs logit change | greedy next token agrees |',
  '| --- | --- | --- | --- | --- | --- |',
];
let name = '';
for (const [quantType, doubleQuant] of [
  ['nf4', true],
  ['nf4', false],
  ['fp4', true],
  ['fp4', false],
] as const) {
  const bench = await stories260K(tf);
  if (bench === undefined) {
    console.log('stories260K files not found (PEFTKIT_SHARED?); nothing to measure');
    process.exit(0);
  }
  name = bench.name;
  const graph = bench.model as unknown as ModelGraph & {
    forward(input: { ids: number[][] }): ReturnType<typeof tf.tensor>;
  };
  const ids = [bench.prompt(128)];
  const run = () => {
    const out = graph.forward({ ids });
    const values = out.dataSync() as Float32Array;
    out.dispose();
    return values.slice();
  };
  const linears = [...graph.sites()].filter((s): s is LinearSite => s.kind === 'linear' && !s.isHead);
  const dense = new Map(
    linears.map((s) => [
      s.name,
      (() => {
        const w = s.base.weightOutIn();
        const v = (w.dataSync() as Float32Array).slice();
        w.dispose();
        return v;
      })(),
    ]),
  );
  const before = run();
  const report = quantizeModel(tf, graph, { quantType, doubleQuant });
  let se = 0;
  let ss = 0;
  for (const s of linears) {
    const w = s.base.weightOutIn();
    const q = w.dataSync() as Float32Array;
    const d = dense.get(s.name) as Float32Array;
    for (let i = 0; i < q.length; i++) {
      se += ((q[i] as number) - (d[i] as number)) ** 2;
      ss += (d[i] as number) ** 2;
    }
    w.dispose();
  }
  const after = run();
  let maxDiff = 0;
  let sumDiff = 0;
  for (let i = 0; i < after.length; i++) {
    const d = Math.abs((after[i] as number) - (before[i] as number));
    maxDiff = Math.max(maxDiff, d);
    sumDiff += d;
  }
  const vocab = graph.dims.vocabSize;
  let agree = 0;
  const positions = after.length / vocab;
  const argmax = (a: Float32Array, p: number) => {
    let best = 0;
    for (let j = 1; j < vocab; j++) if ((a[p * vocab + j] as number) > (a[p * vocab + best] as number)) best = j;
    return best;
  };
  for (let p = 0; p < positions; p++) if (argmax(after, p) === argmax(before, p)) agree++;
  const params = report.bytesBefore / 4;
  const bits = ((report.bytesAfter - (doubleQuant ? 4 * report.quantized.length : 0)) * 8) / params;
  rows.push(
    `| ${quantType}${doubleQuant ? ' + DQ' : ''} | ${bits.toFixed(3)} | ${Math.sqrt(se / ss).toFixed(4)} | ` +
      `${maxDiff.toFixed(3)} | ${(sumDiff / after.length).toFixed(4)} | ` +
      `${((100 * agree) / positions).toFixed(1)} % of ${positions} |`,
  );
  if (!linears.every((s) => s.base instanceof QuantizedLinearBase)) throw new Error('not every linear was quantized');
  await bench.dispose();
}
console.log(`## ${name}: every non-head linear quantized (block 64), 128-token story prompt\n`);
console.log(rows.join('\n'));
