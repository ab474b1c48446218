/**
 * Per-kernel time of the serving bench (bench/serving.ts, same options): wraps the engine's runKernel like
 * bench/op-profile.ts and prints at exit, per kernel (and per operand shapes for BatchMatMul), the exclusive
 * milliseconds and calls over the whole run. Compare two runs (e.g. `--adapters 1` and `--adapters 128`) to see
 * what mixed adapters add.
 * Usage: node --conditions=peftkit:source --import tsx bench/serving-profile.ts [bench/serving.ts options]
 */
import type * as tf from '@tensorflow/tfjs-core';
import { recordKernelTimes } from './kernel-times.ts';

const rows = recordKernelTimes((name, inputs, attrs) => {
  if (name !== 'BatchMatMul') return name;
  const shapes = Object.values(inputs)
    .map((t) => `[${(t as tf.Tensor).shape}]`)
    .join('x');
  return `${name} ${shapes}${attrs?.transposeB ? 'ᵀ' : ''}`;
});

process.on('exit', () => {
  for (const [key, r] of [...rows].sort((a, b) => b[1].ms - a[1].ms).slice(0, 60)) {
    console.log(`${r.ms.toFixed(0).padStart(6)} ms ${String(r.calls).padStart(7)} ${key}`);
  }
});
process.argv[1] = new URL('./serving.ts', import.meta.url).pathname;
await import('./serving.ts');
