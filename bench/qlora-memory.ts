/**
 * QLoRA memory and speed on the wasm backend:
 *   1. storage bits/param and quantization error of NF4/FP4 (± double quantization) on Llama-shaped weights;
 *   2. step-time overhead of dequantizing: forward + dx of one linear, dense vs packed, at Llama shapes;
 *   3. one measured training step (LoRA on a dense base vs QLoRA), each in its own process (the heap never shrinks);
 *   4. the largest Llama shapes that train on wasm with and without QLoRA, from the measured bytes per parameter
 *      against the heap ceiling documented in adapters/tensor/wasm.ts.
 * Usage: node --import tsx bench/qlora-memory.ts [--quick]
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DenseLinearBase, Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { dequantize4, QuantizedLinearBase, quantize4, quantizedBytes } from '@peftkit/qlora';

const quick = process.argv.includes('--quick');
const GIB = 1024 ** 3;
const WASM_HEAP_CEILING = 4294901760; // adapters/tensor/wasm.ts `limits`
const ACTIVATION_ALLOWANCE = 1 * GIB; // kept free for activations (seq 512, batch 1), as wasm.ts's LoRA estimate does
const table = (rows: (string | number)[][]) => rows.map((r) => `| ${r.join(' | ')} |`).join('\n');
const fmt = (x: number, d = 2) => x.toFixed(d);

function quantizationStats(): string {
  const rows: (string | number)[][] = [
    ['weight', 'type', 'double quant', 'bits/param', 'RMS error / RMS weight', 'max |error| / block absmax'],
  ];
  rows.push(['---', '---', '---', '---', '---', '---']);
  for (const [name, out, inF] of [
    ['q_proj 2048×2048', 2048, 2048],
    ['down_proj 2048×5632', 2048, 5632],
  ] as const) {
    const w = new Rng(1).normalArray(out * inF, 0, 0.02);
    for (const quantType of ['nf4', 'fp4'] as const) {
      for (const doubleQuant of [false, true]) {
        const q = quantize4(w, [out, inF], { quantType, blockSize: 64, doubleQuant });
        const back = dequantize4(q);
        let se = 0;
        let sw = 0;
        let worst = 0;
        for (let i = 0; i < w.length; i += 64) {
          let absmax = 0;
          for (let j = i; j < i + 64; j++) absmax = Math.max(absmax, Math.abs(w[j] as number));
          for (let j = i; j < i + 64; j++) {
            const e = (back[j] as number) - (w[j] as number);
            se += e * e;
            sw += (w[j] as number) ** 2;
            worst = Math.max(worst, Math.abs(e) / absmax);
          }
        }
        const bits = ((quantizedBytes(q) - (doubleQuant ? 4 : 0)) * 8) / w.length;
        rows.push([name, quantType, String(doubleQuant), fmt(bits, 3), fmt(Math.sqrt(se / sw), 4), fmt(worst, 4)]);
      }
    }
  }
  return table(rows);
}

async function linearOverhead(): Promise<string> {
  const kernel = await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } });
  const tf = kernel.tf;
  const rows: (string | number)[][] = [
    ['linear (out×in), 64 tokens', 'dense fwd+dx ms', 'NF4 fwd+dx ms', 'overhead', 'dequantize ms (JS)'],
  ];
  rows.push(['---', '---', '---', '---', '---']);
  const shapes = quick
    ? [[1024, 1024]]
    : [
        [2048, 2048],
        [5632, 2048],
        [2048, 5632],
      ];
  for (const [out, inF] of shapes as [number, number][]) {
    const w = new Rng(3).normalArray(out * inF, 0, 0.02);
    const dense = new DenseLinearBase(tf, tf.variable(tf.tensor2d(w, [out, inF]), false), 'out_in', null);
    const packed = QuantizedLinearBase.fromWeight(
      tf,
      w,
      [out, inF],
      { quantType: 'nf4', blockSize: 64, doubleQuant: true },
      null,
    );
    const x = tf.tensor2d(new Rng(4).normalArray(64 * inF), [64, inF]);
    const time = (base: { forward(x: ReturnType<typeof tf.tensor2d>): ReturnType<typeof tf.tensor2d> }) => {
      const run = () => {
        const g = tf.grad((input) => tf.sum(base.forward(input as ReturnType<typeof tf.tensor2d>)))(x);
        g.dataSync();
        g.dispose();
      };
      run();
      const reps = quick ? 2 : 4;
      const start = performance.now();
      for (let i = 0; i < reps; i++) run();
      return (performance.now() - start) / reps;
    };
    const tDense = time(dense);
    const tPacked = time(packed);
    const start = performance.now();
    dequantize4(packed.state);
    const tDeq = performance.now() - start;
    rows.push([`${out}×${inF}`, fmt(tDense, 1), fmt(tPacked, 1), `${fmt(tPacked / tDense)}×`, fmt(tDeq, 1)]);
    x.dispose();
    dense.dispose();
    packed.dispose();
  }
  return table(rows);
}

interface StepResult {
  mode: string;
  params: number;
  quantizedParams: number;
  packedBytes: number;
  backendAtRest: number;
  liveAtEndOfForward: number;
  heapAfterStep: number;
  optimizerHostBytes: number;
  stepMs: number[];
}

function measureStep(mode: 'lora' | 'qlora', dims: number[]): StepResult {
  const script = fileURLToPath(new URL('./qlora-step.ts', import.meta.url));
  const out = execFileSync(process.execPath, [...process.execArgv, script, mode, ...dims.map(String)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').at(-1) as string) as StepResult;
}

interface LlamaShape {
  name: string;
  h: number;
  layers: number;
  inter: number;
  vocab: number;
  kvHeads: number;
  heads: number;
  /** lm_head shares the embedding matrix. */
  tied?: boolean;
}

const SHAPES: LlamaShape[] = [
  { name: 'stories110M', h: 768, layers: 12, inter: 2048, vocab: 32000, heads: 12, kvHeads: 12 },
  { name: 'TinyLlama-1.1B', h: 2048, layers: 22, inter: 5632, vocab: 32000, heads: 32, kvHeads: 4 },
  { name: 'Llama-3.2-3B', h: 3072, layers: 28, inter: 8192, vocab: 128256, heads: 24, kvHeads: 8, tied: true },
  { name: 'Llama-2-7B', h: 4096, layers: 32, inter: 11008, vocab: 32000, heads: 32, kvHeads: 32 },
  { name: 'Llama-2-13B', h: 5120, layers: 40, inter: 13824, vocab: 32000, heads: 40, kvHeads: 40 },
];

/** Backend bytes per mode from measured per-parameter costs; activations get a fixed allowance. */
function projection(perDenseBaseParam: number, perPackedParam: number): string {
  const rows: (string | number)[][] = [
    [
      'shape',
      'params',
      'full FT (20 B/param)',
      'LoRA, dense base',
      'QLoRA NF4+DQ (backend)',
      'QLoRA host RAM (packed + moments)',
    ],
    ['---', '---', '---', '---', '---', '---'],
  ];
  const budget = WASM_HEAP_CEILING - ACTIVATION_ALLOWANCE;
  const cell = (bytes: number) => `${fmt(bytes / GIB)} GiB ${bytes <= budget ? '✅' : '❌'}`;
  for (const s of SHAPES) {
    const kv = (s.h / s.heads) * s.kvHeads;
    const linear = s.layers * (2 * s.h * s.h + 2 * s.h * kv + 3 * s.h * s.inter);
    const other = (s.tied ? 1 : 2) * s.vocab * s.h + (2 * s.layers + 1) * s.h;
    // LoRA r=16 on all linears: (in + out)·r per linear; 8 B on the backend (param + grad), moments paged to the host.
    const adapters = s.layers * 16 * (2 * (s.h + s.h) + 2 * (s.h + kv) + 3 * (s.h + s.inter));
    const head = (s.tied ? 8 : 12) * s.vocab * s.h; // lm_head weight + its XNNPACK copy (+ the embedding when untied)
    const full = 20 * (linear + other);
    const loraBytes = perDenseBaseParam * linear + head + 8 * adapters;
    const qloraBytes = perPackedParam * linear + 8 * s.h * s.inter + head + 8 * adapters;
    const host = (4.127 / 8) * linear + 8 * adapters;
    rows.push([
      s.name,
      `${fmt((linear + other) / 1e9)}B`,
      cell(full),
      cell(loraBytes),
      cell(qloraBytes),
      `${fmt(host / GIB)} GiB`,
    ]);
  }
  return table(rows);
}

const date = new Date().toISOString().slice(0, 10);
console.log(
  `## QLoRA memory bench — ${date}, ${cpus()[0]?.model ?? 'unknown CPU'} ×${cpus().length}, ` +
    `Node ${process.version}, wasm backend\n`,
);
console.log('### Storage and error (block 64)\n');
console.log(quantizationStats());
console.log('\n### Dequantize overhead per linear (wasm, single thread)\n');
console.log(await linearOverhead());
const dims = quick ? [256, 2, 688, 2048, 32] : [768, 6, 2048, 8192, 64];
console.log(
  `\n### One training step, Llama hidden ${dims[0]}, ${dims[1]} layers, intermediate ${dims[2]}, vocab ${dims[3]}, ` +
    `seq ${dims[4]}, LoRA r=16 all-linear, paged AdamW\n`,
);
const q = measureStep('qlora', dims);
const l = measureStep('lora', dims);
const rows: (string | number)[][] = [
  [
    'base',
    'params',
    'backend tensors at rest',
    'live tensors end of forward',
    'wasm heap after step',
    'packed base (JS)',
    'step ms (1st, 2nd)',
  ],
  ['---', '---', '---', '---', '---', '---', '---'],
];
for (const r of [l, q]) {
  rows.push([
    r.mode === 'lora' ? 'float32 (LoRA)' : 'NF4+DQ (QLoRA)',
    `${fmt(r.params / 1e6, 1)}M`,
    `${fmt(r.backendAtRest / 2 ** 20, 1)} MiB`,
    `${fmt(r.liveAtEndOfForward / 2 ** 20, 1)} MiB`,
    `${fmt(r.heapAfterStep / 2 ** 20, 1)} MiB`,
    `${fmt(r.packedBytes / 2 ** 20, 1)} MiB`,
    r.stepMs.map((t) => fmt(t, 0)).join(', '),
  ]);
}
console.log(table(rows));
const perDenseLive = (l.liveAtEndOfForward - q.liveAtEndOfForward) / q.quantizedParams;
const perDenseHeap = (l.heapAfterStep - q.heapAfterStep) / q.quantizedParams;
const perDense = Math.max(perDenseLive, perDenseHeap, 8);
console.log(
  `\nMeasured backend bytes per linear-weight parameter: dense base ${fmt(perDenseLive)} (live tensors) ` +
    `/ ${fmt(perDenseHeap)} (heap growth); ` +
    `packed base 0 at rest (${fmt((q.packedBytes * 8) / q.quantizedParams, 3)} bits/param in JS memory). ` +
    `Projection uses ${fmt(perDense)} B.`,
);
console.log(
  `\n### Largest Llama shapes on wasm (ceiling ${fmt(WASM_HEAP_CEILING / GIB)} GiB, ` +
    `${fmt(ACTIVATION_ALLOWANCE / GIB)} GiB kept for activations)\n`,
);
console.log(projection(perDense, 0));
const budget = WASM_HEAP_CEILING - ACTIVATION_ALLOWANCE;
console.log(
  `\nBudget ${fmt(budget / GIB)} GiB: full fine-tuning fits ≤ ${fmt(budget / 20 / 1e6, 0)}M params; ` +
    `LoRA on a float32 base ≤ ${fmt(budget / perDense / 1e6, 0)}M ` +
    'linear-weight params (less the float embeddings/head); QLoRA is bounded by the float ' +
    'embeddings/head (12 B per vocab×hidden), ' +
    'the largest dequantized layer (8 B per element) and the adapters, not by the linear weights.',
);
