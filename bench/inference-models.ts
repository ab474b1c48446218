/**
 * Models for bench/inference.ts: the real stories260K (llama2.c checkpoint from test/fixtures/, converted and loaded
 * through the normal Hugging Face path) and a random-weight Llama shaped like stories15M.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertLlama2cFiles } from '../packages/models/src/convert/llama2c-files.ts';
import type { CausalLanguageModel } from '../packages/models/src/generate/generate.ts';
import { LlamaModel } from '../packages/models/src/model/llama.ts';
import { loadModel } from '../packages/models/src/model/load.ts';
import type { Tf } from '../core/src/runtime/types.ts';
import type { Tokenizer } from '../core/src/model/tokenizer.ts';
import { Rng } from '../core/src/util/rng.ts';

export interface BenchModel {
  name: string;
  model: CausalLanguageModel & { dispose(): void };
  tokenizer: Tokenizer;
  /** Prompt ids of `length` tokens (BOS first), the same for every row. */
  prompt(length: number): number[];
  parameters: number;
  dispose(): Promise<void>;
}

/** stories15M's shape (llama2.c README): dim 288, 6 layers, 6 heads, hidden 768, vocab 32000, 256 positions. */
export const STORIES15M_CONFIG = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
  hidden_size: 288,
  intermediate_size: 768,
  num_hidden_layers: 6,
  num_attention_heads: 6,
  num_key_value_heads: 6,
  vocab_size: 32000,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: true,
};

// The vendored test fixture (test/fixtures/stories260K); PEFTKIT_SHARED, a
// shared/ root, overrides (e.g. a baseline run).
const SHARED = process.env.PEFTKIT_SHARED
  ? join(process.env.PEFTKIT_SHARED, 'models', 'stories260K')
  : fileURLToPath(new URL('../test/fixtures/stories260K/', import.meta.url));

function countParameters(tf: Tf, before: number): number {
  return tf.memory().numBytes / 4 - before;
}

/**
 * Ids-only tokenizer for the random model (its vocabulary has no text): decoding joins ids, so the
 * generator's per-token text work is still exercised at a realistic cost.
 */
function idTokenizer(vocabSize: number): Tokenizer {
  return {
    vocabSize,
    bosId: 1,
    eosId: 2,
    encode: (text) => Array.from(text, (c) => 3 + ((c.codePointAt(0) ?? 0) % (vocabSize - 3))),
    decode: (ids) => ids.map((id) => `t${id} `).join(''),
  };
}

export async function stories15MRandom(tf: Tf): Promise<BenchModel> {
  const before = tf.memory().numBytes / 4;
  const model = new LlamaModel(tf, STORIES15M_CONFIG, { kind: 'random', rng: new Rng(15), std: 0.02 });
  const rng = new Rng(7);
  return {
    name: 'stories15M-shape (random)',
    model,
    tokenizer: idTokenizer(STORIES15M_CONFIG.vocab_size),
    prompt: (length) => [1, ...Array.from({ length: length - 1 }, () => 3 + rng.int(STORIES15M_CONFIG.vocab_size - 3))],
    parameters: countParameters(tf, before),
    dispose: async () => model.dispose(),
  };
}

/** The real stories260K, or undefined when its files are absent (a PEFTKIT_SHARED without them). */
export async function stories260K(tf: Tf): Promise<BenchModel | undefined> {
  const bin = join(SHARED, 'stories260K.bin');
  const tok = join(SHARED, 'tok512.bin');
  if (!existsSync(bin) || !existsSync(tok)) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-bench-s260k-'));
  await convertLlama2cFiles(bin, tok, dir);
  const before = tf.memory().numBytes / 4;
  const loaded = await loadModel(tf, dir);
  const model = loaded.model as unknown as CausalLanguageModel & { dispose(): void };
  const tokenizer = loaded.tokenizer as Tokenizer;
  // Real story text, repeated to the requested length.
  const story = tokenizer.encode(
    'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ' +
      'One day, she saw a big red ball.',
  );
  return {
    name: 'stories260K (real)',
    model,
    tokenizer,
    prompt: (length) => [
      tokenizer.bosId ?? 1,
      ...Array.from({ length: length - 1 }, (_, i) => story[i % story.length] as number),
    ],
    parameters: countParameters(tf, before),
    dispose: async () => {
      model.dispose();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
