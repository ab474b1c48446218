/**
 * Where the native BLAS path wins: µs per tf.matMul on wasm, peftkit's wasm kernels (withoutBlas) against the BLAS
 * kernels forced on for every size, for small squares (the crossover behind DEFAULT_MIN_MACS) and the products of a
 * stories15M-shaped Llama (decode, training, attention, LoRA). Same process, best of several timed batches.
 * Usage: node --conditions=peftkit:source --import tsx bench/blas-shapes.ts
 */
import { blasLibrary, describeBlas, setBlasKernelSettings, withoutBlas } from '@peftkit/adapters';
import { createTensorRuntime } from '../test/support/runtime.ts';

type Case = [label: string, a: number[], b: number[], transposeA: boolean, transposeB: boolean];

const squares: Case[] = [4, 8, 16, 32, 64, 128].flatMap((s): Case[] => [
  [`${s}³ plain`, [s, s], [s, s], false, false],
  [`${s}³ tA`, [s, s], [s, s], true, false],
  [`${s}³ tB`, [s, s], [s, s], false, true],
]);
const model: Case[] = [
  ['decode x·Wqᵀ', [1, 288], [288, 288], false, true],
  ['decode x·Wupᵀ', [8, 288], [768, 288], false, true],
  ['decode head', [8, 288], [32000, 288], false, true],
  ['decode head, 1 row', [1, 288], [32000, 288], false, true],
  ['train x·Wᵀ', [2048, 288], [288, 288], false, true],
  ['train dW = dyᵀ·x', [2048, 288], [2048, 288], true, false],
  ['train LoRA A', [2048, 288], [8, 288], false, true],
  ['train LoRA B', [2048, 8], [288, 8], false, true],
  ['attention q·kᵀ', [48, 256, 48], [48, 256, 48], false, true],
  ['attention p·v', [48, 256, 256], [48, 256, 48], false, false],
  ['tiny batched', [512, 2, 3], [512, 3, 2], false, false],
];

/** Best µs per call over 3 batches sized to ~0.3 s each. */
function time(f: () => void): number {
  f();
  let t = performance.now();
  f();
  const probe = performance.now() - t;
  const reps = Math.max(1, Math.min(500, Math.round(300 / Math.max(probe, 1e-3))));
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    t = performance.now();
    for (let i = 0; i < reps; i++) f();
    best = Math.min(best, (performance.now() - t) / reps);
  }
  return best * 1000;
}

const { tf } = await createTensorRuntime({ backend: 'wasm' });
console.log(`BLAS: ${describeBlas()}`);
if (blasLibrary() === null) process.exit(0);
setBlasKernelSettings({ minMacs: 0 });
console.log(`${'product'.padEnd(20)} ${'wasm µs'.padStart(10)} ${'blas µs'.padStart(10)}  speedup`);
for (const [label, aShape, bShape, tA, tB] of [...squares, ...model]) {
  const a = tf.randomUniform(aShape);
  const b = tf.randomUniform(bShape);
  const f = () => tf.matMul(a, b, tA, tB).dispose();
  const wasm = withoutBlas(() => time(f));
  const blas = time(f);
  console.log(
    `${label.padEnd(20)} ${wasm.toFixed(1).padStart(10)} ${blas.toFixed(1).padStart(10)}  ${(wasm / blas).toFixed(2)}x`,
  );
  tf.dispose([a, b]);
}
