/**
 * What a decode step's linear layers cost when their weights come from memory rather than cache, and what fusing
 * them would save: µs per tf.matMul of 8 rows by a weight, warm (the same weight every call) and cold (a 64 MB
 * sweep between calls, each call a different weight, as in a decode step where the 37 MB head evicts the rest).
 * Shapes: stories15M's q / k / v / o ([288, 288]), q·k·v fused ([864, 288]), up or gate ([768, 288]), gate·up fused
 * ([1536, 288]) and down ([288, 768]). Median of 40 calls, second of two passes.
 * Usage: node --conditions=peftkit:source --import tsx bench/cold-products.ts
 */
import { createTensorRuntime } from '../test/support/runtime.ts';

const { tf } = await createTensorRuntime({ backend: 'wasm' });
const sweep = new Float32Array(16e6);
const shapes: [number, number, number][] = [
  [8, 288, 288],
  [8, 864, 288],
  [8, 768, 288],
  [8, 1536, 288],
  [8, 288, 768],
];
for (const [m, n, k] of shapes) {
  const x = tf.randomUniform([m, k]);
  const weights = Array.from({ length: 40 }, () => tf.randomUniform([n, k]));
  const median = (cold: boolean): number => {
    const times: number[] = [];
    for (let r = 0; r < 40; r++) {
      if (cold) for (let i = 0; i < sweep.length; i += 16) sweep[i] = (sweep[i] as number) + 1;
      const start = performance.now();
      tf.matMul(x, weights[cold ? r : 0] as typeof x, false, true).dispose();
      times.push(performance.now() - start);
    }
    return (times.sort((a, b) => a - b)[20] as number) * 1000;
  };
  median(false);
  median(true);
  const [warm, cold] = [median(false), median(true)];
  console.log(`[${m}, ${k}] · [${n}, ${k}]ᵀ  warm ${warm.toFixed(1)} µs  cold ${cold.toFixed(1)} µs`);
  tf.dispose([x, ...weights]);
}
