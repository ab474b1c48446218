/**
 * Per-kernel time of a training row (bench/train-step.ts): wraps the engine's runKernel and prints, per kernel name
 * and output shape, the calls and the exclusive milliseconds (nested kernels are subtracted from their caller).
 * Where a CPU profile shows anonymous wasm functions, this names the tfjs kernel and the tensor size behind them.
 * Usage: node --conditions=peftkit:source --import tsx bench/op-profile.ts '<json TrainRowSettings>' [top]
 */
import { byOutputShape, recordKernelTimes } from './kernel-times.ts';
import { runTrainRow, type TrainRowSettings } from './train-step.ts';

const rows = recordKernelTimes(byOutputShape);

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
