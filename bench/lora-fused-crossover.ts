/**
 * Where one LoRA adapter on every row is cheaper through the fused PeftkitLoraRows kernel than through the composed
 * ops (x·Aᵀ, ·Bᵀ, Mul, Add): µs per site update at rank 8 for a few widths and position counts, same process, best
 * of several timed batches. Motivates SINGLE_FUSED_MACS in plugins/lora/src/batch.ts.
 * Usage: node --conditions=peftkit:source --import tsx bench/lora-fused-crossover.ts
 */
import type { Tensor3D } from '@tensorflow/tfjs-core';
import { describeBlas } from '@peftkit/adapters';
import { createTensorRuntime } from '../test/support/runtime.ts';

const RANK = 8;

function time(f: () => void): number {
  for (let i = 0; i < 20; i++) f();
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < 50; i++) f();
    best = Math.min(best, (performance.now() - t) / 50);
  }
  return best * 1000;
}

const { tf } = await createTensorRuntime({ backend: 'wasm' });
console.log(`BLAS: ${describeBlas()}; rank ${RANK}`);
console.log('width  positions  MACs     fused µs  composed µs');
for (const width of [64, 288, 2048]) {
  for (const n of [8, 32, 64, 128, 512]) {
    const x = tf.randomNormal([1, n, width]) as Tensor3D;
    const y = tf.randomNormal([1, n, width]) as Tensor3D;
    const [a, bt] = [tf.randomNormal([1, RANK, width]), tf.randomNormal([1, RANK, width])];
    const scale = tf.tensor1d([2]);
    const [A, B] = [tf.randomNormal([RANK, width]), tf.randomNormal([width, RANK])];
    const fused = time(() =>
      (tf.engine().runKernel('PeftkitLoraRows', { x, y, a, bt, scale } as never) as Tensor3D).dispose(),
    );
    const composed = time(() =>
      tf
        .tidy(() => {
          const rows = tf.reshape(x, [n, width]);
          const delta = tf.mul(tf.matMul(tf.matMul(rows, A, false, true), B, false, true), 2);
          return tf.add(y, tf.reshape(delta, [1, n, width]));
        })
        .dispose(),
    );
    const macs = n * RANK * 2 * width;
    console.log(
      `${String(width).padEnd(6)} ${String(n).padEnd(10)} ${String(macs).padEnd(8)} ` +
        `${fused.toFixed(1).padStart(8)}  ${composed.toFixed(1).padStart(11)}`,
    );
    tf.dispose([x, y, a, bt, scale, A, B]);
  }
}
