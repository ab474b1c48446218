import {
  type AdapterManager,
  type AdapterRecord,
  type CombineOptions,
  type CombineSource,
  type MethodContext,
  PeftkitError,
  Rng,
  type Tf,
} from '@peftkit/core';
import { type LoraConfig, LoraConfigSchema } from './config.ts';
import { disposeHandle, injectLora } from './inject.ts';
import { lowRankSvd } from './svd.ts';
import {
  type MajoritySignMethod,
  mergeTaskTensors,
  type TaskMergeMethod,
  type TaskMergeOptions,
} from './task-merging.ts';
import type { LoraHandle, LoraLayer, Tensor2D } from './types.ts';

/**
 * PEFT's `add_weighted_adapter` for LoRA: a new adapter from weighted existing ones.
 * - linear: equal ranks; A' = Σ sign(wᵢ)·√|wᵢ·sᵢ|·Aᵢ, B' = Σ √|wᵢ·sᵢ|·Bᵢ (PEFT's approximation: cross terms remain).
 * - cat: A' = [wᵢ·sᵢ·Aᵢ] stacked, B' = [Bᵢ] side by side, so B'·A' = Σ wᵢ·ΔWᵢ exactly (rank = Σ rᵢ).
 * - svd: the best rank-k factorisation of Σ wᵢ·ΔWᵢ (k = svdRank, default the largest source rank).
 * - ties, dare_linear, dare_ties, magnitude_prune: PEFT's task-vector merging (task-merging.ts) applied to the
 *   stacked A matrices and to the stacked B matrices, each weighted by √(wᵢ·sᵢ); equal ranks, wᵢ·sᵢ ≥ 0.
 * The new adapter has lora_alpha = r and no rsLoRA, so its scaling is 1.
 */

export interface WeightedAdapterOptions {
  readonly adapters: readonly string[];
  readonly weights: readonly number[];
  readonly name: string;
  readonly combination: 'linear' | 'cat' | 'svd' | TaskMergeMethod;
  readonly svdRank?: number;
  /** Share of entries kept by the pruning methods, in (0, 1] (PEFT's `density`). */
  readonly density?: number;
  /** Sign election of ties / dare_ties (PEFT's `majority_sign_method`, default 'total'). */
  readonly majoritySignMethod?: MajoritySignMethod;
  /** Seed of dare_* random pruning (default 0). */
  readonly seed?: number;
}

const TASK_METHODS: readonly string[] = ['ties', 'dare_linear', 'dare_ties', 'magnitude_prune'];
const STRATEGIES: readonly string[] = ['linear', 'cat', 'svd', ...TASK_METHODS];

const fail = (message: string, details: Record<string, unknown> = {}): never => {
  throw new PeftkitError('PEFTKIT_E_COMBINATION', message, details);
};

function loraSource(name: string, source: unknown): LoraHandle {
  const handle = source as Partial<LoraHandle>;
  if (!Array.isArray(handle.layers) || !Array.isArray(handle.modules) || !Array.isArray(handle.biases))
    fail(`adapter '${name}' is not a LoRA adapter`, { adapter: name });
  const lora = handle as LoraHandle;
  if (lora.config.use_dora)
    fail(`adapter '${name}' uses DoRA, which weighted combination does not support`, { adapter: name });
  if (lora.biases.length > 0)
    fail(`adapter '${name}' trains biases (bias '${lora.config.bias}'), which cannot be combined`, { adapter: name });
  return lora;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Part {
  readonly layer: LoraLayer;
  readonly weight: number;
}

/** ties / dare / magnitude_prune of the A and B matrices of one site, weighted by √(wᵢ·sᵢ). */
function taskMergeSite(
  tf: Tf,
  parts: readonly Part[],
  method: TaskMergeMethod,
  options: TaskMergeOptions,
): [Tensor2D, Tensor2D] {
  const weights = parts.map((p) => {
    const ws = p.weight * p.layer.scaling;
    if (ws < 0)
      fail(`${method} needs non-negative weights (PEFT takes √(weight · scaling)), got ${p.weight}`, {
        weight: p.weight,
      });
    return Math.sqrt(ws);
  });
  const merge = (pick: (p: Part) => Tensor2D): Tensor2D => {
    const first = pick(parts[0] as Part);
    const merged = mergeTaskTensors(
      parts.map((p) => pick(p).dataSync() as Float32Array),
      weights,
      method,
      options,
    );
    return tf.tensor2d(merged, first.shape);
  };
  return [merge((p) => p.layer.a as Tensor2D), merge((p) => p.layer.b as Tensor2D)];
}

/** New [A, B] for one site (tensors owned by the caller). */
function combineSite(
  tf: Tf,
  parts: readonly Part[],
  combination: WeightedAdapterOptions['combination'],
  svdRank: number,
  task: TaskMergeOptions,
): [Tensor2D, Tensor2D] {
  if (combination === 'linear' || TASK_METHODS.includes(combination)) {
    const r = (parts[0] as Part).layer.r;
    if (parts.some((p) => p.layer.r !== r))
      fail(
        `${combination} combination needs equal ranks, found ${parts.map((p) => p.layer.r).join(', ')} on ` +
          `'${(parts[0] as Part).layer.site.name}'`,
      );
  }
  if (TASK_METHODS.includes(combination)) return taskMergeSite(tf, parts, combination as TaskMergeMethod, task);
  if (combination === 'linear') {
    return tf.tidy(() => {
      const c = parts.map((p) => Math.sqrt(Math.abs(p.weight * p.layer.scaling)));
      const a = tf.addN(parts.map((p, i) => tf.mul(p.layer.a, (p.weight < 0 ? -1 : 1) * (c[i] as number))));
      const b = tf.addN(parts.map((p, i) => tf.mul(p.layer.b, c[i] as number)));
      return [a, b] as [Tensor2D, Tensor2D];
    });
  }
  if (combination === 'cat') {
    return tf.tidy(() => [
      tf.concat(parts.map((p) => tf.mul(p.layer.a, p.weight * p.layer.scaling)) as Tensor2D[], 0),
      tf.concat(parts.map((p) => p.layer.b) as Tensor2D[], 1),
    ]) as [Tensor2D, Tensor2D];
  }
  // svd: ΔW = X·Yᵀ with X = [wᵢ·sᵢ·Bᵢ] and Y = [Aᵢᵀ]; keep the top svdRank singular triplets.
  const [x, y] = tf.tidy(() => [
    tf.concat(parts.map((p) => tf.mul(p.layer.b, p.weight * p.layer.scaling)) as Tensor2D[], 1),
    tf.concat(parts.map((p) => tf.transpose(p.layer.a)) as Tensor2D[], 1),
  ]) as [Tensor2D, Tensor2D];
  const [m, rank] = x.shape;
  const n = y.shape[0];
  const svd = lowRankSvd(Float64Array.from(x.dataSync()), m, Float64Array.from(y.dataSync()), n, rank);
  x.dispose();
  y.dispose();
  const a = new Float32Array(svdRank * n);
  const b = new Float32Array(m * svdRank);
  for (let k = 0; k < Math.min(svdRank, rank); k++) {
    const sigma = svd.s[k] as number;
    for (let i = 0; i < m; i++) b[i * svdRank + k] = (svd.u[i * rank + k] as number) * sigma;
    for (let j = 0; j < n; j++) a[k * n + j] = svd.v[j * rank + k] as number;
  }
  return [tf.tensor2d(a, [svdRank, n]), tf.tensor2d(b, [m, svdRank])];
}

/** Creates adapter `name` on the manager from weighted LoRA adapters (through the plugin's `combine` hook). */
export function addWeightedAdapter(manager: AdapterManager, options: WeightedAdapterOptions): AdapterRecord {
  const { adapters, weights, name } = options;
  if (adapters.length === 0 || adapters.length !== weights.length)
    fail('adapters and weights must be non-empty lists of the same length');
  // QLoRA shares LoRA's peft_type but not its handle: refuse it here with LoRA's own message.
  for (const a of adapters) loraSource(a, manager.get(a).handle);
  const { combination, svdRank, density, majoritySignMethod, seed } = options;
  return manager.combine(
    name,
    adapters.map((adapter, i) => ({ adapter, weight: weights[i] as number })),
    {
      strategy: combination,
      ...(svdRank !== undefined ? { svdRank } : {}),
      ...(density !== undefined ? { density } : {}),
      ...(majoritySignMethod !== undefined ? { majoritySignMethod } : {}),
      ...(seed !== undefined ? { seed } : {}),
    },
  );
}

/** LoRA's `combine` hook: the weighted combination of `sources`, injected as adapter `ctx.adapterName`. */
export function combineLora(
  ctx: MethodContext,
  sources: readonly CombineSource<LoraConfig, LoraHandle>[],
  options: CombineOptions,
): { handle: LoraHandle; config: LoraConfig } {
  const weights = sources.map((s) => s.weight);
  if (sources.length === 0) fail('combine needs at least one adapter');
  if (weights.some((w) => !Number.isFinite(w))) fail('weights must be finite numbers');
  if (!STRATEGIES.includes(options.strategy))
    fail(`unknown combination '${options.strategy}' (LoRA supports ${STRATEGIES.join(', ')})`);
  const handles = sources.map((s) => loraSource(s.name, s.handle));
  // With one source every combination is the linear one (as in PEFT).
  const combination = sources.length === 1 ? 'linear' : options.strategy;
  const svdRank = options.svdRank ?? Math.max(...handles.flatMap((h) => h.layers.map((l) => l.r)));
  if (!Number.isInteger(svdRank) || svdRank < 1) fail(`svdRank must be a positive integer, got ${svdRank}`);
  const density = options.density ?? 1;
  if (TASK_METHODS.includes(options.strategy) && !(density > 0 && density <= 1))
    fail(`density must be in (0, 1], got ${options.density}`);
  const task: TaskMergeOptions = {
    density,
    majoritySignMethod: options.majoritySignMethod ?? 'total',
    rng: new Rng(options.seed ?? 0),
  };

  const bySite = new Map<string, Part[]>();
  handles.forEach((h, i) => {
    for (const layer of h.layers) {
      const parts = bySite.get(layer.site.name) ?? bySite.set(layer.site.name, []).get(layer.site.name)!;
      parts.push({ layer, weight: weights[i] as number });
    }
  });
  const moduleSources = new Map<string, LoraHandle['modules'][number]>();
  for (const h of handles) {
    for (const m of h.modules) {
      if (moduleSources.has(m.site.name))
        fail(`more than one adapter saves '${m.site.name}' (modules_to_save); they cannot be combined`, {
          site: m.site.name,
        });
      moduleSources.set(m.site.name, m);
    }
  }
  const combined = new Map<string, [Tensor2D, Tensor2D]>();
  try {
    for (const [site, parts] of bySite) combined.set(site, combineSite(ctx.tf, parts, combination, svdRank, task));
    return injectCombined(ctx, handles, combined, moduleSources);
  } finally {
    for (const [a, b] of combined.values()) {
      a.dispose();
      b.dispose();
    }
  }
}

/** Injects the new adapter with exact names, per-site ranks and scaling 1, then writes the combined factors in. */
function injectCombined(
  ctx: MethodContext,
  sources: readonly LoraHandle[],
  combined: ReadonlyMap<string, [Tensor2D, Tensor2D]>,
  moduleSources: ReadonlyMap<string, LoraHandle['modules'][number]>,
): { handle: LoraHandle; config: LoraConfig } {
  const first = (sources[0] as LoraHandle).config;
  const ranks = [...combined].map(([site, [a]]) => [site, a.shape[0]] as const);
  const r = (ranks[0] as readonly [string, number])[1];
  const pattern: Record<string, number> = {};
  for (const [site, rank] of ranks) if (rank !== r) pattern[escapeRegex(site)] = rank;
  const modules = [...new Set(sources.flatMap((h) => h.config.modules_to_save ?? []))];
  const config = LoraConfigSchema.parse({
    ...first,
    r,
    lora_alpha: r,
    use_rslora: false,
    rank_pattern: pattern,
    alpha_pattern: { ...pattern },
    target_modules: ranks.map(([site]) => site),
    exclude_modules: null,
    layers_to_transform: null,
    layers_pattern: null,
    bias: 'none',
    init_lora_weights: true,
    use_dora: false,
    modules_to_save: modules.length > 0 ? modules : null,
    inference_mode: false,
  });
  const handle = injectLora(ctx, config);
  try {
    for (const layer of handle.layers) {
      const factors = combined.get(layer.site.name);
      if (factors === undefined || factors[0].shape[0] !== layer.r)
        fail(`internal: no combined factors of rank ${layer.r} for '${layer.site.name}'`);
      layer.a.assign((factors as [Tensor2D, Tensor2D])[0]);
      layer.b.assign((factors as [Tensor2D, Tensor2D])[1]);
    }
    for (const module of handle.modules) {
      const source = moduleSources.get(module.site.name);
      if (source === undefined) continue;
      module.weight.assign(source.weight);
      if (module.bias && source.bias) module.bias.assign(source.bias);
    }
  } catch (error) {
    disposeHandle(ctx, handle);
    throw error;
  }
  return { handle, config };
}
