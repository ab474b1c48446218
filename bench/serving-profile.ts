/**
 * Per-kernel time of the serving bench (bench/serving.ts, same options): wraps the engine's runKernel like
 * bench/op-profile.ts and prints at exit, per kernel (and per operand shapes for BatchMatMul), the exclusive
 * milliseconds and calls over the whole run. Compare two runs (e.g. `--adapters 1` and `--adapters 128`) to see
 * what mixed adapters add.
 * Usage: node --conditions=peftkit:source --import tsx bench/serving-profile.ts [bench/serving.ts options]
 */
import * as tf from '@tensorflow/tfjs-core';

const rows = new Map<string, { calls: number; ms: number }>();
const engine = tf.engine();
const run = engine.runKernel.bind(engine);
const stack: number[] = [];
engine.runKernel = ((name: string, inputs: tf.NamedTensorMap, attrs?: tf.NamedAttrMap) => {
  const start = performance.now();
  stack.push(0);
  const out = run(name, inputs, attrs);
  const total = performance.now() - start;
  const nested = stack.pop() as number;
  if (stack.length > 0) stack[stack.length - 1] = (stack.at(-1) as number) + total;
  const shapes = Object.values(inputs)
    .map((t) => `[${(t as tf.Tensor).shape}]`)
    .join('x');
  const key = name === 'BatchMatMul' ? `${name} ${shapes}${attrs?.transposeB ? 'ᵀ' : ''}` : name;
  const row = rows.get(key) ?? { calls: 0, ms: 0 };
  row.calls++;
  row.ms += total - nested;
  rows.set(key, row);
  return out;
}) as typeof engine.runKernel;

process.on('exit', () => {
  for (const [key, r] of [...rows].sort((a, b) => b[1].ms - a[1].ms).slice(0, 60)) {
    console.log(`${r.ms.toFixed(0).padStart(6)} ms ${String(r.calls).padStart(7)} ${key}`);
  }
});
process.argv[1] = new URL('./serving.ts', import.meta.url).pathname;
await import('./serving.ts');
