import { setBlasKernelSettings, withoutBlas } from '@peftkit/adapters';
import { createTensorRuntime } from '../test/support/runtime.ts';
const { tf } = await createTensorRuntime({ backend: 'wasm' });
setBlasKernelSettings({ minMacs: 0 });
const time = (f: () => void) => { for (let i = 0; i < 50; i++) f(); let best = Infinity; for (let r = 0; r < 5; r++) { const t = performance.now(); for (let i = 0; i < 200; i++) f(); best = Math.min(best, (performance.now() - t) / 200); } return best * 1000; };
console.log('size variant wasm_us blas_us');
for (const s of [4, 8, 12, 16, 24, 32, 48, 64, 96]) for (const [tA, tB] of [[false, false], [true, false], [false, true]] as const) {
  const a = tf.randomUniform([s, s]); const b = tf.randomUniform([s, s]);
  const f = () => { tf.matMul(a, b, tA, tB).dispose(); };
  const w = withoutBlas(() => time(f)); const n = time(f);
  console.log(s, tA ? 'tA' : tB ? 'tB' : 'plain', w.toFixed(1), n.toFixed(1), (w / n).toFixed(2));
  tf.dispose([a, b]);
}
