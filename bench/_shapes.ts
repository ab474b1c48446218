import { setBlasKernelSettings, withoutBlas } from '@peftkit/adapters';
import { createTensorRuntime } from '../test/support/runtime.ts';
const { tf } = await createTensorRuntime({ backend: 'wasm' });
setBlasKernelSettings({ minMacs: 0 });
const time = (f: () => void, reps: number) => { f(); f(); let best = Infinity; for (let r = 0; r < 3; r++) { const t = performance.now(); for (let i = 0; i < reps; i++) f(); best = Math.min(best, (performance.now() - t) / reps); } return best * 1000; };
const cases: Array<[string, number[], number[], boolean, boolean]> = [
  ['decode x·Wqᵀ', [1, 288], [288, 288], false, true],
  ['decode x·Wupᵀ', [8, 288], [768, 288], false, true],
  ['decode head', [8, 288], [32000, 288], false, true],
  ['decode head m=1', [1, 288], [32000, 288], false, true],
  ['train x·Wᵀ', [2048, 288], [288, 288], false, true],
  ['train dW = dyᵀ·x', [2048, 288], [2048, 288], true, false],
  ['train lora A', [2048, 288], [8, 288], false, true],
  ['train lora B', [2048, 8], [288, 8], false, true],
  ['train head', [2048, 288], [32000, 288], false, true],
  ['attn q·kᵀ', [48, 256, 48], [48, 256, 48], false, true],
  ['attn p·v', [48, 256, 256], [48, 256, 48], false, false],
  ['tiny batched', [512, 2, 3], [512, 3, 2], false, false],
];
for (const [label, as, bs, tA, tB] of cases) {
  const a = tf.randomUniform(as); const b = tf.randomUniform(bs);
  const f = () => { tf.matMul(a, b, tA, tB).dispose(); };
  const probe = time(f, 1); const reps = Math.max(1, Math.min(100, Math.round(300000 / probe)));
  const w = withoutBlas(() => time(f, reps)); const n = time(f, reps);
  console.log(label.padEnd(18), `wasm ${w.toFixed(0).padStart(7)} us  blas ${n.toFixed(0).padStart(7)} us  ${(w / n).toFixed(2)}x`);
  tf.dispose([a, b]);
}
