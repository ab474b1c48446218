import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type PrefixHook, Rng, type SiteHook, type Tf } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { BertModel, loadModel } from '@peftkit/models';
import { writeSafetensorsFile } from '../packages/io/src/safetensors.ts';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf: Tf = kernel.tf;
const D = 16;
const H = 4;
const HD = D / H;
const I = 32;
const V = 40;
const P = 24;
const L = 2;
const LABELS = ['a', 'b', 'c'];
const CONFIG = {
  model_type: 'bert',
  architectures: ['BertForSequenceClassification'],
  hidden_size: D,
  num_hidden_layers: L,
  num_attention_heads: H,
  intermediate_size: I,
  vocab_size: V,
  max_position_embeddings: P,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu',
  id2label: { 0: 'a', 1: 'b', 2: 'c' },
};
type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

/** A random BertForSequenceClassification checkpoint in Hugging Face names and layout (Linear weights [out, in]). */
function bertTensors(seed: number): Tensors {
  const rng = new Rng(seed);
  const t: Tensors = new Map();
  const add = (name: string, shape: number[], mean = 0, std = 0.2) => {
    const size = shape.reduce((a, b) => a * b, 1);
    t.set(name, { shape, data: rng.normalArray(size, mean, std) });
  };
  const norm = (name: string) => {
    add(`${name}.weight`, [D], 1, 0.1);
    add(`${name}.bias`, [D], 0, 0.1);
  };
  const linear = (name: string, out: number, inp: number) => {
    add(`${name}.weight`, [out, inp]);
    add(`${name}.bias`, [out], 0, 0.1);
  };
  add('bert.embeddings.word_embeddings.weight', [V, D], 0, 0.5);
  add('bert.embeddings.position_embeddings.weight', [P, D], 0, 0.5);
  add('bert.embeddings.token_type_embeddings.weight', [2, D], 0, 0.5);
  norm('bert.embeddings.LayerNorm');
  for (let i = 0; i < L; i++) {
    const p = `bert.encoder.layer.${i}`;
    for (const m of ['query', 'key', 'value']) linear(`${p}.attention.self.${m}`, D, D);
    linear(`${p}.attention.output.dense`, D, D);
    norm(`${p}.attention.output.LayerNorm`);
    linear(`${p}.intermediate.dense`, I, D);
    linear(`${p}.output.dense`, D, I);
    norm(`${p}.output.LayerNorm`);
  }
  linear('bert.pooler.dense', D, D);
  linear('classifier', LABELS.length, D);
  return t;
}

// ---- independent plain-loop reference of HF BertForSequenceClassification (float64, no tfjs) ----
const TENSORS = bertTensors(11);
const W = (name: string) => TENSORS.get(name)?.data as Float32Array;
function layerNormRef(x: number[], p: string): number[] {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  return x.map(
    (v, i) =>
      ((v - mean) / Math.sqrt(variance + 1e-12)) * (W(`${p}.weight`)[i] as number) + (W(`${p}.bias`)[i] as number),
  );
}
function linearRef(x: number[], p: string): number[] {
  const w = W(`${p}.weight`);
  const b = W(`${p}.bias`);
  return Array.from({ length: b.length }, (_, o) =>
    x.reduce((acc, v, i) => acc + v * (w[o * x.length + i] as number), b[o] as number),
  );
}
/** erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
interface RefOptions {
  types?: number[];
  /** Attention mask of the real tokens (right padding is what HF BERT expects). */
  mask?: number[];
  prefix?: { keys: number[][][]; values: number[][][] };
  /** Multipliers a block hook applies to each sub-layer's dense output before its residual + LayerNorm. */
  attnScale?: number;
  mlpScale?: number;
}
function referenceLogits(ids: number[], o: RefOptions = {}): number[] {
  const T = o.prefix?.keys[0]?.length ?? 0;
  const keyMask = [...new Array<number>(T).fill(1), ...(o.mask ?? ids.map(() => 1))];
  const emb = (name: string, row: number) =>
    Array.from(W(`bert.embeddings.${name}.weight`).subarray(row * D, (row + 1) * D));
  let hs = ids.map((id, s) => {
    const [w, ty, po] = [
      emb('word_embeddings', id),
      emb('token_type_embeddings', o.types?.[s] ?? 0),
      emb('position_embeddings', T + s),
    ];
    return layerNormRef(
      w.map((v, j) => v + (ty[j] as number) + (po[j] as number)),
      'bert.embeddings.LayerNorm',
    );
  });
  for (let l = 0; l < L; l++) {
    const p = `bert.encoder.layer.${l}`;
    const q = hs.map((h) => linearRef(h, `${p}.attention.self.query`));
    const keys = [...(o.prefix?.keys[l] ?? []), ...hs.map((h) => linearRef(h, `${p}.attention.self.key`))];
    const values = [...(o.prefix?.values[l] ?? []), ...hs.map((h) => linearRef(h, `${p}.attention.self.value`))];
    const ctx = q.map((r) => {
      const out = new Array<number>(D).fill(0);
      for (let h = 0; h < H; h++) {
        const scores = keys.map(
          (k) =>
            k.slice(h * HD, (h + 1) * HD).reduce((a, v, j) => a + v * (r[h * HD + j] as number), 0) / Math.sqrt(HD),
        );
        const max = Math.max(...scores.filter((_, k) => keyMask[k] === 1));
        const e = scores.map((v, k) => (keyMask[k] === 1 ? Math.exp(v - max) : 0));
        const z = e.reduce((a, v) => a + v, 0);
        e.forEach((w, k) => {
          for (let j = 0; j < HD; j++)
            out[h * HD + j] = (out[h * HD + j] as number) + (w / z) * ((values[k] as number[])[h * HD + j] as number);
        });
      }
      return out;
    });
    const a = hs.map((h, s) =>
      layerNormRef(
        linearRef(ctx[s] as number[], `${p}.attention.output.dense`).map(
          (v, j) => v * (o.attnScale ?? 1) + (h[j] as number),
        ),
        `${p}.attention.output.LayerNorm`,
      ),
    );
    hs = a.map((x) => {
      const inner = linearRef(x, `${p}.intermediate.dense`).map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
      return layerNormRef(
        linearRef(inner, `${p}.output.dense`).map((v, j) => v * (o.mlpScale ?? 1) + (x[j] as number)),
        `${p}.output.LayerNorm`,
      );
    });
  }
  const pooled = linearRef(hs[0] as number[], 'bert.pooler.dense').map(Math.tanh);
  return linearRef(pooled, 'classifier');
}

// Every assertion carries a message: Node's generated ones re-parse the source and can hang on TypeScript files.
function assertClose(
  a: readonly (readonly number[])[],
  b: readonly (readonly number[])[],
  tolerance: number,
  what: string,
): void {
  let diff = 0;
  for (const [i, row] of a.entries())
    for (const [j, v] of row.entries()) diff = Math.max(diff, Math.abs(v - ((b[i] as readonly number[])[j] as number)));
  if (Number.isNaN(diff)) diff = Number.POSITIVE_INFINITY;
  assert.ok(diff <= tolerance, `${what}: max abs diff ${diff} > ${tolerance}`);
}
const isCode = (code: string) => (e: unknown) => (e as { code?: string }).code === code;
const classify = (model: BertModel, ...args: Parameters<BertModel['classify']>) => {
  const out = model.classify(...args);
  const rows = out.arraySync() as number[][];
  out.dispose();
  return rows;
};

const DIR = mkdtempSync(join(tmpdir(), 'peftkit-bert-'));
writeFileSync(join(DIR, 'config.json'), JSON.stringify(CONFIG));
await writeSafetensorsFile(
  join(DIR, 'model.safetensors'),
  [...TENSORS].map(([name, v]) => ({ name, dtype: 'F32' as const, ...v })),
);
const load = async () => (await loadModel(tf, DIR)).model as BertModel;
const A = [2, 17, 5, 9, 33, 3];
const B = [2, 8, 8, 21, 3];

test('BERT exposes Hugging Face module names; classifier is the head', async () => {
  const model = await load();
  assert.equal(model.task, 'seq-cls');
  assert.deepEqual(model.labels, LABELS);
  const kinds = new Map([...model.sites()].map((s) => [s.name, s.kind]));
  for (const name of [
    'bert.encoder.layer.0.attention.self.query',
    'bert.encoder.layer.1.attention.output.dense',
    'bert.encoder.layer.1.intermediate.dense',
    'bert.encoder.layer.0.output.dense',
    'bert.pooler.dense',
  ]) {
    assert.equal(kinds.get(name), 'linear', name);
  }
  const attn = model.site('bert.encoder.layer.0.attention.output');
  const mlp = model.site('bert.encoder.layer.1.output');
  assert.equal(attn?.kind === 'block' ? attn.role : null, 'attention');
  assert.equal(mlp?.kind === 'block' ? mlp.role : null, 'mlp');
  assert.equal(kinds.get('bert.embeddings.word_embeddings'), 'embedding');
  const head = model.site('classifier');
  assert.ok(head?.kind === 'linear' && head.isHead && head.base.outFeatures === 3, 'classifier is the head');
  const pooler = model.site('bert.pooler.dense');
  assert.ok(pooler?.kind === 'linear' && !pooler.isHead, 'the pooler is not the head');
  model.dispose();
});

test('BERT classification logits match a plain-loop reference (token types, right padding)', async () => {
  const model = await load();
  const types = [0, 0, 0, 1, 1, 1];
  const got = classify(model, {
    ids: [A, [...B, 0]],
    mask: [A.map(() => 1), [1, 1, 1, 1, 1, 0]],
    tokenTypes: [types, [0, 0, 0, 1, 1, 0]],
  });
  assertClose(
    got,
    [
      referenceLogits(A, { types }),
      referenceLogits([...B, 0], { types: [0, 0, 0, 1, 1, 0], mask: [1, 1, 1, 1, 1, 0] }),
    ],
    1e-4,
    'vs reference',
  );
  // Right padding is what HF BERT supports; left padding is invariant here too because positions follow the mask.
  assertClose(
    classify(model, { ids: [[0, 0, ...B]], mask: [[0, 0, 1, 1, 1, 1, 1]] }),
    [referenceLogits(B)],
    1e-4,
    'left padding',
  );
  assertClose(classify(model, { ids: [B] }), [referenceLogits(B)], 1e-4, 'unpadded');
  model.dispose();
});

test('BERT is classification only: causal-LM use and a KV cache give PEFTKIT_E_MODEL_TASK', async () => {
  const model = await load();
  assert.throws(() => model.forward({ ids: [A] }), isCode('PEFTKIT_E_MODEL_TASK'));
  assert.throws(() => model.classify({ ids: [A] }, { cache: {} as never }), isCode('PEFTKIT_E_MODEL_TASK'));
  assert.throws(
    () => new BertModel(tf, CONFIG, { kind: 'random', rng: new Rng(1) }, { task: 'causal-lm' }),
    isCode('PEFTKIT_E_MODEL_TASK'),
  );
  await assert.rejects(loadModel(tf, DIR, { task: 'causal-lm' }), isCode('PEFTKIT_E_MODEL_TASK'));
  assert.throws(() => model.classify({ ids: [A], tokenTypes: [[0, 0, 0, 2, 0, 0]] }), isCode('PEFTKIT_E_INPUT'));
  assert.throws(() => model.classify({ ids: [new Array<number>(P + 1).fill(1)] }), isCode('PEFTKIT_E_CONTEXT_LENGTH'));
  model.dispose();
});

function scaleHook(factor: number): SiteHook {
  return { apply: (_input, output) => tf.mul(output, factor) as never };
}

test('BERT block hooks transform each sub-layer output before its residual + LayerNorm (Houlsby)', async () => {
  const model = await load();
  (
    model.site('bert.encoder.layer.0.attention.output') as { hooks: { attach(n: string, h: SiteHook): void } }
  ).hooks.attach('h', scaleHook(2));
  (
    model.site('bert.encoder.layer.1.attention.output') as { hooks: { attach(n: string, h: SiteHook): void } }
  ).hooks.attach('h', scaleHook(2));
  for (let i = 0; i < L; i++)
    (model.site(`bert.encoder.layer.${i}.output`) as { hooks: { attach(n: string, h: SiteHook): void } }).hooks.attach(
      'h',
      scaleHook(0.5),
    );
  const got = classify(
    model,
    { ids: [A, [...B, 0]], mask: [A.map(() => 1), [1, 1, 1, 1, 1, 0]] },
    { selection: { perRow: ['h', null] } },
  );
  assertClose(
    got,
    [referenceLogits(A, { attnScale: 2, mlpScale: 0.5 }), referenceLogits([...B, 0], { mask: [1, 1, 1, 1, 1, 0] })],
    1e-4,
    'hooked row / base row',
  );
  model.dispose();
});

function randomPrefix(seed: number, tokens: number): { hook: PrefixHook; keys: number[][][]; values: number[][][] } {
  const rng = new Rng(seed);
  const draw = () =>
    Array.from({ length: L }, () => Array.from({ length: tokens }, () => Array.from(rng.normalArray(D, 0, 0.5))));
  const keys = draw();
  const values = draw();
  const k = keys.map((r) => tf.keep(tf.tensor3d(r.flat(), [tokens, H, HD])));
  const v = values.map((r) => tf.keep(tf.tensor3d(r.flat(), [tokens, H, HD])));
  return {
    hook: { numVirtualTokens: tokens, prefix: (layer) => ({ key: k[layer], value: v[layer] }) as never },
    keys,
    values,
  };
}

test(
  'BERT prompt tuning (pooled at the first virtual token, as PEFT) and P-Tuning v2 prefixes; ' + 'mixed batches',
  async () => {
    const model = await load();
    const virtual = [2, 30, 31];
    const words = W('bert.embeddings.word_embeddings.weight');
    const embeds = tf.keep(
      tf.tensor2d(
        virtual.flatMap((id) => [...words.subarray(id * D, (id + 1) * D)]),
        [virtual.length, D],
      ),
    );
    model.prompts.attach('p', { virtualTokens: () => embeds as never });
    const prefix = randomPrefix(4, 2);
    model.prefixes.attach('x', prefix.hook);
    // PEFT prepends virtual tokens (token type 0, positions 0..T-1): the same as spelling them out as real tokens.
    assertClose(
      classify(model, { ids: [B] }, { selection: { active: ['p'] } }),
      [referenceLogits([...virtual, ...B])],
      1e-4,
      'prompt',
    );
    // HF BERT starts positions after past_key_values: the prefix shifts them by its length.
    assertClose(
      classify(model, { ids: [A] }, { selection: { active: ['x'] } }),
      [referenceLogits(A, { prefix })],
      1e-4,
      'prefix',
    );

    const ids = [A, [...B, 0], [7, 7, 7, 7, 7, 7]];
    const mask = [A.map(() => 1), [1, 1, 1, 1, 1, 0], A.map(() => 1)];
    const selections = ['p', 'x', null];
    const single = selections.map(
      (name, b) =>
        classify(
          model,
          { ids: [ids[b] as number[]], mask: [mask[b] as number[]] },
          name ? { selection: { active: [name] } } : {},
        )[0] as number[],
    );
    assertClose(
      classify(model, { ids, mask }, { selection: { perRow: selections } }),
      single,
      1e-5,
      'mixed batch equals per-row calls',
    );
    model.dispose();
  },
);

test('BERT classification leaks no tensors', async () => {
  const model = await load();
  model.classify({ ids: [A, A] }).dispose();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) model.classify({ ids: [A, A], tokenTypes: [A.map(() => 1), A.map(() => 0)] }).dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('cleanup', () => rmSync(DIR, { recursive: true, force: true }));
