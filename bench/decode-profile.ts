/**
 * Per-kernel time of greedy decoding with the KV cache (stories15M shape): wraps the engine's runKernel like
 * bench/op-profile.ts and prints, per kernel and output shape, the calls and exclusive milliseconds of the decode
 * steps only (the prefill is run first and not counted), plus the time spent outside kernels. PREFILL=1 profiles the
 * prefill step instead (a 64-token prompt per row, a fresh generation per step).
 * Usage: node --conditions=peftkit:source --import tsx bench/decode-profile.ts [batch 8] [steps 32] [top 40]
 * With NO_KERNEL_PROFILE=1 and `node --cpu-prof`, the printed µs window selects the timed steps. LORA=1 decodes
 * through an unmerged LoRA adapter (bench/train-methods.ts's LORA_CONFIG, every row selecting it).
 */
import lora from '@peftkit/lora';
import { createKernel } from 'peftkit';
import type { ForwardInput, ForwardOptions } from '../core/src/model/forward.ts';
import { BatchGenerator } from '../packages/models/src/generate/generate.ts';
import { stories15MRandom } from './inference-models.ts';
import { byOutputShape, recordKernelTimes } from './kernel-times.ts';
import { LORA_CONFIG } from './train-methods.ts';

const batch = Number(process.argv[2] ?? 8);
const steps = Number(process.argv[3] ?? 32);
const top = Number(process.argv[4] ?? 40);
const kernel = await createKernel({ backend: 'wasm', plugins: [lora], logger: { warn() {}, info() {} } });
const bench = await stories15MRandom(kernel.tf);
const manager = kernel.adapters(bench.model as never);
if (process.env.LORA === '1') {
  manager.create('lora', 'lora', { ...LORA_CONFIG });
  const model = bench.model;
  const forward = model.forward.bind(model);
  bench.model = Object.assign(Object.create(model) as typeof model, {
    forward: (input: ForwardInput, options: ForwardOptions = {}) =>
      forward(input, { ...options, selection: { active: ['lora'] } }),
  });
}
let counting = false;
// The decode steps in monotonic µs, the clock of `--cpu-prof` samples (bench/cpuprofile-top.ts --window).
let windowStart = 0n;
let windowEnd = 0n;
const rows = recordKernelTimes(byOutputShape, () => counting);

const PROMPT = 64;
const prefill = process.env.PREFILL === '1';

function generator(maxTokens: number): BatchGenerator {
  const prompt = bench.prompt(PROMPT);
  const requests = Array.from({ length: batch }, () => ({ ids: prompt }));
  return new BatchGenerator(bench.model, bench.tokenizer, requests, {
    maxTokens,
    temperature: 0,
    stopAtEos: false,
    // The arg-max alone, as bench/peer/infer.py; LOGPROBS=1 adds the softmax for each token's log-probability.
    logprobs: process.env.LOGPROBS === '1',
  });
}

/** ms per decode step after one prefill; with PREFILL=1, ms per prefill over `count` fresh generations. */
function generate(count: number, profile: boolean): number {
  let ms = 0;
  let n = 0;
  if (prefill) {
    windowStart = process.hrtime.bigint() / 1000n;
    for (; n < count; n++) {
      const g = generator(1);
      counting = profile;
      const start = performance.now();
      g.step();
      ms += performance.now() - start;
      counting = false;
      g.dispose();
    }
    windowEnd = process.hrtime.bigint() / 1000n;
    return ms / n;
  }
  const g = generator(count + 1);
  g.step();
  counting = profile;
  windowStart = process.hrtime.bigint() / 1000n;
  const start = performance.now();
  while (!g.done && n < count) {
    g.step();
    n++;
  }
  ms = performance.now() - start;
  windowEnd = process.hrtime.bigint() / 1000n;
  counting = false;
  g.dispose();
  return ms / n;
}

generate(8, false);
const plain = generate(steps, false);
const profiled = process.env.NO_KERNEL_PROFILE ? plain : generate(steps, true);
const sum = [...rows.values()].reduce((n, r) => n + r.ms, 0) / steps;
const calls = [...rows.values()].reduce((n, r) => n + r.calls, 0) / steps;
const tokens = prefill ? batch * PROMPT : batch;
console.log(
  `batch ${batch} ${prefill ? 'prefill' : 'decode'}: ${plain.toFixed(2)} ms/step unprofiled ` +
    `(${((tokens * 1000) / plain).toFixed(1)} tok/s); profiled ${profiled.toFixed(2)} ms/step, in kernels ` +
    `${sum.toFixed(2)} ms, ${calls.toFixed(0)} kernel calls/step (timed steps: µs ${windowStart}-${windowEnd})`,
);
for (const [key, r] of [...rows].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
  console.log(
    `${((100 * r.ms) / steps / profiled).toFixed(1).padStart(5)} %  ${(r.ms / steps).toFixed(3).padStart(7)} ms  ` +
      `${(r.calls / steps).toFixed(1).padStart(5)}×  ${key}`,
  );
}
manager.dispose();
await bench.dispose();
