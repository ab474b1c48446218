/**
 * One measured training step (LoRA all-linear on a dense base, or QLoRA on an NF4+DQ base) for bench/qlora-memory.ts,
 * run in its own process because the wasm heap never shrinks. Prints one JSON line.
 * Usage: node --import tsx bench/qlora-step.ts <lora|qlora> <hidden> <layers> <intermediate> <vocab> <seq>
 */
import { Rng, type Tf } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { LlamaModel } from '@peftkit/models';
import lora from '@peftkit/lora';
import qlora, { PagedAdamW, quantizeModel } from '@peftkit/qlora';

const [mode = 'qlora', ...dims] = process.argv.slice(2);
const [hidden = 768, layers = 6, intermediate = 2048, vocab = 8192, seq = 64] = dims.map(Number);
const heads = hidden / 64;
const config = {
  model_type: 'llama',
  hidden_size: hidden,
  intermediate_size: intermediate,
  num_hidden_layers: layers,
  num_attention_heads: heads,
  num_key_value_heads: heads,
  vocab_size: vocab,
  max_position_embeddings: 2 * seq,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
};

function wasmHeapBytes(tf: Tf): number {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return backend.wasm?.HEAPU8?.buffer.byteLength ?? Number.NaN;
}

const kernel = await createKernel({ backend: 'wasm', plugins: [lora, qlora], logger: { warn() {}, info() {} } });
const tf = kernel.tf;
const model = new LlamaModel(tf, config, { kind: 'random', rng: new Rng(1), std: 0.02 });
const params = [...model.parameters().values()].reduce((n, v) => n + v.size, 0);
const heapAfterLoad = wasmHeapBytes(tf);
const report = mode === 'qlora' ? quantizeModel(tf, model) : null;
const manager = kernel.adapters(model);
const vars = manager.create('a', mode, { target_modules: 'all-linear', r: 16, lora_alpha: 32 }).handle
  .trainableVariables;
const optimizer = new PagedAdamW(tf, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
const rng = new Rng(2);
const ids = [Array.from({ length: seq + 1 }, () => rng.int(vocab))];
const inputs = ids.map((r) => r.slice(0, -1));
const targets = tf.tensor2d(
  ids.map((r) => r.slice(1)),
  undefined,
  'int32',
);
const backendAtRest = tf.memory().numBytes;
let liveAtEndOfForward = 0;
const times: number[] = [];
for (let step = 0; step < 2; step++) {
  const start = performance.now();
  const { value, grads } = tf.variableGrads(() => {
    const logp = tf.logSoftmax(model.forward({ ids: inputs }, { selection: { active: ['a'] }, training: true }));
    const loss = tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(targets, vocab), logp), -1))) as ReturnType<typeof tf.scalar>;
    liveAtEndOfForward = Math.max(liveAtEndOfForward, tf.memory().numBytes);
    return loss;
  }, [...vars]);
  optimizer.apply(vars, grads, 1e-4);
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
  times.push(performance.now() - start);
}
const quantized = report?.quantized.length ?? 0;
console.log(
  JSON.stringify({
    mode,
    params,
    quantizedParams: report ? report.bytesBefore / 4 : 0,
    packedBytes: report?.bytesAfter ?? 0,
    quantizedSites: quantized,
    backendAtRest,
    liveAtEndOfForward,
    heapAfterLoad,
    heapAfterStep: wasmHeapBytes(tf),
    optimizerHostBytes: optimizer.hostBytes,
    stepMs: times,
  }),
);
targets.dispose();
manager.dispose();
model.dispose();
