import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type PrefixHook, type PromptHook, Rng, type Tf } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { type Gpt2Model, loadModel } from '@peftkit/models';
import { writeSafetensorsFile } from '../packages/io/src/safetensors.ts';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf: Tf = kernel.tf;
const D = 16;
const H = 4;
const HD = D / H;
const V = 48;
const P = 32;
const L = 2;
const LABELS = ['neg', 'neu', 'pos'];
const CONFIG = {
  model_type: 'gpt2',
  architectures: ['GPT2LMHeadModel'],
  n_embd: D,
  n_layer: L,
  n_head: H,
  n_positions: P,
  vocab_size: V,
  layer_norm_epsilon: 1e-5,
};
type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

/** A random GPT-2 checkpoint in Hugging Face names and layout (Conv1D weights [in, out]). */
function gpt2Tensors(seed: number, prefix = 'transformer.'): Tensors {
  const rng = new Rng(seed);
  const t: Tensors = new Map();
  const add = (name: string, shape: number[], mean = 0, std = 0.2) => {
    const size = shape.reduce((a, b) => a * b, 1);
    t.set(prefix + name, { shape, data: rng.normalArray(size, mean, std) });
  };
  const norm = (name: string) => {
    add(`${name}.weight`, [D], 1, 0.1);
    add(`${name}.bias`, [D], 0, 0.1);
  };
  const conv = (name: string, inp: number, out: number) => {
    add(`${name}.weight`, [inp, out]);
    add(`${name}.bias`, [out], 0, 0.1);
  };
  add('wte.weight', [V, D], 0, 0.5);
  add('wpe.weight', [P, D], 0, 0.5);
  for (let i = 0; i < L; i++) {
    norm(`h.${i}.ln_1`);
    conv(`h.${i}.attn.c_attn`, D, 3 * D);
    conv(`h.${i}.attn.c_proj`, D, D);
    norm(`h.${i}.ln_2`);
    conv(`h.${i}.mlp.c_fc`, D, 4 * D);
    conv(`h.${i}.mlp.c_proj`, 4 * D, D);
  }
  norm('ln_f');
  return t;
}

async function writeCheckpoint(config: object, tensors: Tensors): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'peftkit-gpt2-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  await writeSafetensorsFile(
    join(dir, 'model.safetensors'),
    [...tensors].map(([name, v]) => ({ name, dtype: 'F32' as const, ...v })),
  );
  return dir;
}

// ---- independent plain-loop reference (float64 accumulation, no tfjs) ----
const W = (t: Tensors, name: string) => (t.get(`transformer.${name}`) ?? t.get(name))?.data as Float32Array;
function layerNormRef(x: number[], w: Float32Array, b: Float32Array): number[] {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * (w[i] as number) + (b[i] as number));
}
function convRef(x: number[], w: Float32Array, b: Float32Array): number[] {
  const out = b.length;
  return Array.from({ length: out }, (_, o) =>
    x.reduce((acc, v, i) => acc + v * (w[i * out + o] as number), b[o] as number),
  );
}
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
/** Final hidden states per position; `prefix` holds per-layer key/value rows [T][D] that shift positions by T. */
function referenceHidden(t: Tensors, ids: number[], prefix?: { keys: number[][][]; values: number[][][] }): number[][] {
  const T = prefix?.keys[0]?.length ?? 0;
  let hs = ids.map((id, s) =>
    Array.from(
      { length: D },
      (_, j) => (W(t, 'wte.weight')[id * D + j] as number) + (W(t, 'wpe.weight')[(T + s) * D + j] as number),
    ),
  );
  for (let l = 0; l < L; l++) {
    const p = `h.${l}`;
    const x = hs.map((h) => layerNormRef(h, W(t, `${p}.ln_1.weight`), W(t, `${p}.ln_1.bias`)));
    const qkv = x.map((r) => convRef(r, W(t, `${p}.attn.c_attn.weight`), W(t, `${p}.attn.c_attn.bias`)));
    const keys = [...(prefix?.keys[l] ?? []), ...qkv.map((r) => r.slice(D, 2 * D))];
    const values = [...(prefix?.values[l] ?? []), ...qkv.map((r) => r.slice(2 * D))];
    const ctx = qkv.map((r, s) => {
      const out = new Array<number>(D).fill(0);
      for (let h = 0; h < H; h++) {
        const scores = keys.slice(0, T + s + 1).map((k) => {
          let dot = 0;
          for (let j = 0; j < HD; j++) dot += (r[h * HD + j] as number) * (k[h * HD + j] as number);
          return dot / Math.sqrt(HD);
        });
        const max = Math.max(...scores);
        const e = scores.map((v) => Math.exp(v - max));
        const z = e.reduce((a, v) => a + v, 0);
        e.forEach((w, k) => {
          for (let j = 0; j < HD; j++)
            out[h * HD + j] = (out[h * HD + j] as number) + (w / z) * ((values[k] as number[])[h * HD + j] as number);
        });
      }
      return out;
    });
    hs = hs.map((h, s) =>
      convRef(ctx[s] as number[], W(t, `${p}.attn.c_proj.weight`), W(t, `${p}.attn.c_proj.bias`)).map(
        (v, j) => v + (h[j] as number),
      ),
    );
    hs = hs.map((h) => {
      const y = layerNormRef(h, W(t, `${p}.ln_2.weight`), W(t, `${p}.ln_2.bias`));
      const inner = convRef(y, W(t, `${p}.mlp.c_fc.weight`), W(t, `${p}.mlp.c_fc.bias`)).map(gelu);
      return convRef(inner, W(t, `${p}.mlp.c_proj.weight`), W(t, `${p}.mlp.c_proj.bias`)).map(
        (v, j) => v + (h[j] as number),
      );
    });
  }
  return hs.map((h) => layerNormRef(h, W(t, 'ln_f.weight'), W(t, 'ln_f.bias')));
}
const project = (h: number[], w: Float32Array, rows: number) =>
  Array.from({ length: rows }, (_, r) => h.reduce((a, v, j) => a + v * (w[r * D + j] as number), 0));

const rows3 = (x: { arraySync(): unknown; dispose(): void }) => {
  const out = (x.arraySync() as number[][][]).map((r) => r.map((p) => Float32Array.from(p)));
  x.dispose();
  return out;
};
// Every assertion carries a message: Node's generated ones re-parse the source and can hang on TypeScript files.
function assertClose(a: ArrayLike<number>[], b: ArrayLike<number>[], tolerance: number, what: string): void {
  let diff = 0;
  for (const [i, row] of a.entries())
    for (let j = 0; j < row.length; j++)
      diff = Math.max(diff, Math.abs((row[j] as number) - ((b[i] as ArrayLike<number>)[j] as number)));
  if (Number.isNaN(diff)) diff = Number.POSITIVE_INFINITY;
  assert.ok(diff <= tolerance, `${what}: max abs diff ${diff} > ${tolerance}`);
}
const IDS = [
  [5, 17, 3, 40, 22, 9],
  [1, 2, 3, 4, 5, 6],
  [47, 0, 12, 12, 30, 8],
];
const TENSORS = gpt2Tensors(7);
const DIR = await writeCheckpoint(CONFIG, TENSORS);
const load = async () => (await loadModel(tf, DIR)).model as Gpt2Model;

test('GPT-2 exposes Hugging Face module names, Conv1D layout and a tied head', async () => {
  const model = await load();
  assert.equal(model.arch, 'gpt2');
  const site = (name: string) => model.site(name);
  assert.equal(site('transformer.h.0.attn.c_attn')?.kind, 'linear');
  const cAttn = site('transformer.h.0.attn.c_attn');
  assert.ok(
    cAttn?.kind === 'linear' &&
      cAttn.layout === 'in_out' &&
      cAttn.base.inFeatures === D &&
      cAttn.base.outFeatures === 3 * D &&
      cAttn.base.bias !== null,
    'c_attn is Conv1D',
  );
  for (const name of ['transformer.h.1.attn.c_proj', 'transformer.h.1.mlp.c_fc', 'transformer.h.1.mlp.c_proj'])
    assert.equal(site(name)?.kind, 'linear', name);
  assert.equal(site('transformer.h.0.attn')?.kind, 'block');
  assert.equal(site('transformer.h.1.mlp')?.kind, 'block');
  assert.equal(site('transformer.wte')?.kind, 'embedding');
  const head = site('lm_head');
  assert.ok(head?.kind === 'linear' && head.isHead, 'lm_head is the head');
  assert.ok(!model.parameters().has('lm_head.weight'), 'the tied head is not a separate parameter');
  assert.ok(model.parameters().has('transformer.h.1.ln_2.bias'), 'ln_2 bias is a parameter');
  model.dispose();
});

test('GPT-2 logits match an independent plain-loop reference', async () => {
  const model = await load();
  const got = rows3(model.forward({ ids: IDS.slice(0, 2) }));
  for (const [b, ids] of IDS.slice(0, 2).entries()) {
    const hidden = referenceHidden(TENSORS, ids);
    for (const s of [0, 3, 5]) {
      const expected = project(hidden[s] as number[], W(TENSORS, 'wte.weight'), V);
      assertClose([(got[b] as Float32Array[])[s] as Float32Array], [expected], 1e-4, `row ${b} position ${s}`);
    }
  }
  model.dispose();
});

test('GPT-2 checkpoints without the transformer. prefix load as Hugging Face does (mask buffers ignored)', async () => {
  const bare = gpt2Tensors(7, '');
  bare.set('h.0.attn.bias', { shape: [1, 1, P, P], data: new Float32Array(P * P).fill(1) });
  const dir = await writeCheckpoint(CONFIG, bare);
  const loaded = await loadModel(tf, dir);
  const reference = await load();
  assert.deepEqual(loaded.unusedTensors, ['transformer.h.0.attn.bias']);
  assertClose(
    rows3(loaded.model.forward?.({ ids: IDS }) as never).flat(),
    rows3(reference.forward({ ids: IDS })).flat(),
    0,
    'prefix-less checkpoint',
  );
  loaded.model.dispose();
  reference.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('GPT-2 KV-cached decoding equals the full forward; left padding changes nothing', async () => {
  const model = await load();
  const full = rows3(model.forward({ ids: IDS }));
  const cache = model.createCache();
  const got = rows3(model.forward({ ids: IDS.map((r) => r.slice(0, 4)) }, { cache }));
  for (let t = 4; t < 6; t++) {
    for (const [b, r] of rows3(model.forward({ ids: IDS.map((row) => [row[t] as number]) }, { cache })).entries())
      (got[b] as Float32Array[]).push(...r);
  }
  cache.dispose();
  assertClose(full.flat(), got.flat(), 1e-5, 'cached decoding');
  const padded = rows3(model.forward({ ids: [[0, 0, ...(IDS[0] as number[])]], mask: [[0, 0, 1, 1, 1, 1, 1, 1]] }));
  assertClose(full[0] as Float32Array[], (padded[0] as Float32Array[]).slice(2), 1e-5, 'left padding');
  model.dispose();
});

function promptOf(ids: number[]): PromptHook {
  const wte = W(TENSORS, 'wte.weight');
  const embeds = tf.keep(
    tf.tensor2d(
      ids.flatMap((id) => [...wte.subarray(id * D, (id + 1) * D)]),
      [ids.length, D],
    ),
  );
  return { virtualTokens: () => embeds as never };
}
function randomPrefix(seed: number, tokens: number): { hook: PrefixHook; keys: number[][][]; values: number[][][] } {
  const rng = new Rng(seed);
  const draw = () =>
    Array.from({ length: L }, () => Array.from({ length: tokens }, () => Array.from(rng.normalArray(D, 0, 0.5))));
  const keys = draw();
  const values = draw();
  const toTensor = (rowsOf: number[][]) => tf.keep(tf.tensor3d(rowsOf.flat(), [tokens, H, HD]));
  const k = keys.map(toTensor);
  const v = values.map(toTensor);
  return {
    hook: { numVirtualTokens: tokens, prefix: (layer) => ({ key: k[layer], value: v[layer] }) as never },
    keys,
    values,
  };
}

test('GPT-2 prompt tuning and prefix tuning follow PEFT (positions included) and mix per row', async () => {
  const model = await load();
  const virtual = [30, 31, 32 % V];
  model.prompts.attach('p', promptOf(virtual));
  const prefix = randomPrefix(3, 2);
  model.prefixes.attach('x', prefix.hook);
  // Virtual tokens equal to real embeddings behave exactly like those tokens in front of the input.
  const prompted = rows3(model.forward({ ids: [IDS[0] as number[]] }, { selection: { active: ['p'] } }));
  const spelled = rows3(model.forward({ ids: [[...virtual, ...(IDS[0] as number[])]] }));
  assertClose(
    prompted[0] as Float32Array[],
    (spelled[0] as Float32Array[]).slice(3),
    1e-5,
    'prompt = spelled-out tokens',
  );
  // Prefix keys/values sit before the input and shift its positions by the prefix length.
  const prefixed = rows3(model.forward({ ids: [IDS[1] as number[]] }, { selection: { active: ['x'] } }));
  const hidden = referenceHidden(TENSORS, IDS[1] as number[], prefix);
  assertClose(
    prefixed[0] as Float32Array[],
    hidden.map((h) => project(h, W(TENSORS, 'wte.weight'), V)),
    1e-4,
    'prefix vs reference',
  );

  const selections = ['p', 'x', null];
  const single = selections.map(
    (name, b) =>
      rows3(
        model.forward({ ids: [IDS[b] as number[]] }, name ? { selection: { active: [name] } } : {}),
      )[0] as Float32Array[],
  );
  const mixed = rows3(model.forward({ ids: IDS }, { selection: { perRow: selections } }));
  assertClose(mixed.flat(), single.flat(), 1e-5, 'mixed batch equals per-row calls');
  const cache = model.createCache();
  const got = rows3(
    model.forward({ ids: IDS.map((r) => r.slice(0, 3)) }, { selection: { perRow: selections }, cache }),
  );
  for (let t = 3; t < 6; t++) {
    const step = rows3(
      model.forward({ ids: IDS.map((r) => [r[t] as number]) }, { selection: { perRow: selections }, cache }),
    );
    for (const [b, r] of step.entries()) (got[b] as Float32Array[]).push(...r);
  }
  cache.dispose();
  assertClose(got.flat(), single.flat(), 1e-5, 'cached mixed decoding equals per-row full forwards');
  model.dispose();
});

test('GPT-2 sequence classification pools the last real token through score', async () => {
  const tensors = gpt2Tensors(7);
  const score = new Rng(5).normalArray(LABELS.length * D, 0, 0.5);
  tensors.set('score.weight', { shape: [LABELS.length, D], data: score });
  const config = {
    ...CONFIG,
    architectures: ['GPT2ForSequenceClassification'],
    id2label: { 0: 'neg', 1: 'neu', 2: 'pos' },
    pad_token_id: 0,
  };
  const dir = await writeCheckpoint(config, tensors);
  const { model } = await loadModel(tf, dir);
  assert.equal(model.task, 'seq-cls');
  assert.deepEqual(model.labels, LABELS);
  const out = model.classify({
    ids: [[0, 0, ...(IDS[2] as number[]).slice(0, 4)], IDS[2] as number[]],
    mask: [
      [0, 0, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1],
    ],
  });
  assert.deepEqual(out.shape, [2, LABELS.length]);
  const got = out.arraySync() as number[][];
  out.dispose();
  const expect = (ids: number[]) => project(referenceHidden(tensors, ids).at(-1) as number[], score, LABELS.length);
  assertClose(
    got,
    [expect((IDS[2] as number[]).slice(0, 4)), expect(IDS[2] as number[])],
    1e-4,
    'classification vs reference',
  );
  model.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('GPT-2 rejects positions beyond n_positions and leaks no tensors', async () => {
  const model = await load();
  assert.throws(
    () => model.forward({ ids: [new Array<number>(P + 1).fill(1)] }),
    (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_CONTEXT_LENGTH',
  );
  model.forward({ ids: IDS }).dispose();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) model.forward({ ids: IDS }).dispose();
  const cache = model.createCache();
  model.forward({ ids: IDS }, { cache }).dispose();
  model.forward({ ids: [[1], [2], [3]] }, { cache }).dispose();
  cache.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('cleanup', () => rmSync(DIR, { recursive: true, force: true }));
