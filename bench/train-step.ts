/**
 * One training row of bench/train.ts, in its own process so peak RSS (and the wasm heap, which never shrinks) is
 * this method's alone. Trains a random-weight Llama through the core loop (`train`) for 1 warm-up + N measured
 * steps and prints one JSON line (a TrainRowResult) on stdout.
 * Usage: node --import tsx bench/train-step.ts '<json TrainRowSettings>'
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Kernel, Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { LlamaModel } from '@peftkit/models';
import { type StepEvent, type TrainExample, train } from '@peftkit/core/train';
import { findMethod, importPlugins } from './train-methods.ts';

export interface TrainRowSettings {
  method: string;
  /** Tensor backend; undefined picks the kernel's default (PEFTKIT_BACKEND or priority). */
  backend?: string;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  vocab: number;
  seq: number;
  batch: number;
  /** Measured steps (one warm-up step runs before them). */
  steps: number;
}

export interface TrainRowResult {
  method: string;
  skipped?: string;
  backend?: string;
  trainableParams?: number;
  totalParams?: number;
  /** Tokens per optimizer step (batch × seq, real tokens). */
  tokensPerStep?: number;
  warmupSeconds?: number;
  stepSeconds?: number[];
  tokensPerSecond?: number;
  /** process.resourceUsage().maxRSS in bytes, taken at the end of the run. */
  peakRssBytes?: number;
  firstLoss?: number;
  lastLoss?: number;
  leakedTensors?: number;
  prepared?: Record<string, unknown>;
  /** PyTorch peer rows only: torch threads of this run and how they were set; the slower thread settings' runs. */
  threads?: number;
  threadsChoice?: string;
  otherThreadRuns?: { threads?: number; tokensPerSecond?: number }[];
}

export async function runTrainRow(s: TrainRowSettings): Promise<TrainRowResult> {
  const method = findMethod(s.method);
  if (method === undefined) return { method: s.method, skipped: `unknown method '${s.method}'` };
  const imported = await importPlugins(method);
  if ('skipped' in imported) return { method: s.method, skipped: imported.skipped };
  let kernel: Kernel;
  try {
    kernel = await createKernel({
      ...(s.backend ? { backend: s.backend } : {}),
      plugins: imported.plugins,
      logger: { warn() {}, info() {} },
    });
  } catch (error) {
    return { method: s.method, skipped: `plugin does not register: ${(error as Error).message.split('\n')[0]}` };
  }
  const tf = kernel.tf;
  const config = {
    model_type: 'llama',
    hidden_size: s.hidden,
    intermediate_size: s.intermediate,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.heads,
    vocab_size: s.vocab,
    max_position_embeddings: s.seq + (method.virtualTokens ?? 0),
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
  };
  const model = new LlamaModel(tf, config, { kind: 'random', rng: new Rng(15), std: 0.02 });
  const totalParams = [...model.parameters().values()].reduce((n, v) => n + v.size, 0);
  const manager = kernel.adapters(model);
  try {
    const prepared = method.prepare ? await method.prepare(kernel, model) : undefined;
    manager.create('bench', method.plugin, method.config);
    const trainableParams = manager.trainableVariables('bench').reduce((n, v) => n + v.size, 0);
    const rng = new Rng(7);
    const total = s.steps + 1;
    const trainData: TrainExample[] = Array.from({ length: total * s.batch }, () => {
      const ids = Array.from({ length: s.seq }, () => 3 + rng.int(s.vocab - 3));
      return { ids, labels: ids };
    });
    const before = tf.memory().numTensors;
    const events: StepEvent[] = [];
    const optimizer = method.optimizer ? await method.optimizer() : 'adamw';
    await train({
      tf,
      model,
      manager,
      adapter: 'bench',
      trainData,
      padId: 0,
      options: { steps: total, batchSize: s.batch, shuffle: false, schedule: 'constant', lr: 1e-4, optimizer },
      callbacks: { onStep: (e) => void events.push(e) },
    });
    const leakedTensors = tf.memory().numTensors - before;
    // elapsed is cumulative: per-step seconds are its differences; step 1 is the warm-up.
    const seconds = events.map((e, i) => e.elapsed - (i === 0 ? 0 : (events[i - 1] as StepEvent).elapsed));
    const stepSeconds = seconds.slice(1);
    const tokensPerStep = events[0]?.tokens ?? s.batch * s.seq;
    const measured = stepSeconds.reduce((a, b) => a + b, 0);
    return {
      method: s.method,
      backend: kernel.backend,
      trainableParams,
      totalParams,
      tokensPerStep,
      warmupSeconds: seconds[0] ?? 0,
      stepSeconds,
      tokensPerSecond: (tokensPerStep * stepSeconds.length) / measured,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      firstLoss: events[0]?.loss ?? Number.NaN,
      lastLoss: events.at(-1)?.loss ?? Number.NaN,
      leakedTensors,
      ...(prepared ? { prepared } : {}),
    };
  } catch (error) {
    return { method: s.method, skipped: `failed: ${(error as Error).message.split('\n')[0]}` };
  } finally {
    manager.dispose();
    model.dispose();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const settings = JSON.parse(process.argv[2] ?? '{}') as TrainRowSettings;
  const result = await runTrainRow(settings);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
