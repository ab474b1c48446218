/**
 * Per-kernel time of a training row (bench/train-step.ts): wraps the engine's runKernel and prints, per kernel name
 * and output shape, the calls and the exclusive milliseconds (nested kernels are subtracted from their caller).
 * Where a CPU profile shows anonymous wasm functions, this names the tfjs kernel and the tensor size behind them.
 * Usage: node --conditions=peftkit:source --import tsx bench/op-profile.ts '<json TrainRowSettings>' [top]
 */
import * as tf from '@tensorflow/tfjs-core';
import { runTrainRow, type TrainRowSettings } from './train-step.ts';

interface Row {
  calls: number;
  ms: number;
}

const rows = new Map<string, Row>();
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
  const first = (Array.isArray(out) ? out[0] : out) as tf.Tensor | undefined;
  const key = `${name} [${first?.shape.join(',') ?? ''}]`;
  const row = rows.get(key) ?? { calls: 0, ms: 0 };
  row.calls++;
  row.ms += total - nested;
  rows.set(key, row);
  return out;
}) as typeof engine.runKernel;

const settings = JSON.parse(process.argv[2] ?? '{}') as TrainRowSettings;
const top = Number(process.argv[3] ?? 40);
const started = performance.now();
const result = await runTrainRow(settings);
const wall = performance.now() - started;
const sum = [...rows.values()].reduce((n, r) => n + r.ms, 0);
console.log(
  `tok/s ${result.tokensPerSecond?.toFixed(1)}; wall ${(wall / 1000).toFixed(2)} s, ` +
    `in kernels ${(sum / 1000).toFixed(2)} s`,
);
for (const [key, r] of [...rows].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
  console.log(
    `${((100 * r.ms) / sum).toFixed(1).padStart(5)} %  ${r.ms.toFixed(0).padStart(6)} ms  ` +
      `${String(r.calls).padStart(5)}×  ${key}`,
  );
}
