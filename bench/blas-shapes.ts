/**
 * Where the native BLAS path wins: µs per tf.matMul on wasm, peftkit's wasm kernels (withoutBlas) against the BLAS
 * kernels forced on for every size, for small squares (the crossover behind DEFAULT_MIN_MACS) and the products of a
 * stories15M-shaped Llama (decode, training, attention, LoRA). Same process, best of several timed batches.
 * Usage: node --conditions=peftkit:source --import tsx bench/blas-shapes.ts
 */
import { blasLibrary, describeBlas, setBlasKernelSettings, setSmallProductMacs, withoutBlas } from '@peftkit/adapters';
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
  ['LoRA rows x·Aᵀ 260K', [32, 1, 64], [32, 8, 64], false, true],
  ['LoRA rows ·Bᵀ 260K', [32, 1, 8], [32, 64, 8], false, true],
  ['LoRA rows x·Aᵀ 15M', [32, 1, 288], [32, 8, 288], false, true],
  ['LoRA rows ·Bᵀ 15M', [32, 1, 8], [32, 288, 8], false, true],
  ['decode q·kᵀ 96 keys', [8, 6, 1, 48], [8, 6, 96, 48], false, true],
  ['decode p·v 96 keys', [8, 6, 1, 96], [8, 6, 96, 48], false, false],
  ['decode q·kᵀ 256 keys', [8, 6, 1, 48], [8, 6, 256, 48], false, true],
  ['decode p·v 256 keys', [8, 6, 1, 256], [8, 6, 256, 48], false, false],
  ['prefill q·kᵀ 64', [8, 6, 64, 48], [8, 6, 64, 48], false, true],
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
// 'small': batched products with a B per matrix up to SMALL_PRODUCT_MACS each go to one SIMD pass (the default);
// the other two columns turn that pass off.
const columns = ['wasm µs', 'blas µs', 'small µs'].map((c) => c.padStart(10)).join(' ');
console.log(`${'product'.padEnd(22)} ${columns}  blas÷wasm  small÷blas`);
for (const [label, aShape, bShape, tA, tB] of [...squares, ...model]) {
  const a = tf.randomUniform(aShape);
  const b = tf.randomUniform(bShape);
  const f = () => tf.matMul(a, b, tA, tB).dispose();
  const previous = setSmallProductMacs(0);
  const wasm = withoutBlas(() => time(f));
  const blas = time(f);
  setSmallProductMacs(previous);
  const small = time(f);
  const cells = [wasm, blas, small].map((v) => v.toFixed(1).padStart(10)).join(' ');
  console.log(`${label.padEnd(22)} ${cells}  ${(wasm / blas).toFixed(2).padStart(8)}x  ${(blas / small).toFixed(2)}x`);
  tf.dispose([a, b]);
}
