import {
  DenseLinearBase,
  type LinearBaseFactory,
  type LinearSite,
  type ModelGraph,
  PeftkitError,
  type Tf,
} from '@peftkit/core';
import type { Quantize4Options } from './blockwise4.ts';
import type { QuantType } from './codebooks.ts';
import { QuantizedLinearBase } from './quantized-linear.ts';

export interface QuantizeModelOptions {
  readonly quantType?: QuantType;
  readonly doubleQuant?: boolean;
  readonly blockSize?: number;
  /**
   * Site names (exact, or a suffix after a dot as PEFT's lists) or 'all-linear' (default: every linear but the head).
   */
  readonly targetModules?: readonly string[] | 'all-linear';
}

export interface QuantizeModelReport {
  /** Sites quantized by this call. */
  readonly quantized: string[];
  /** Targeted sites that already were quantized with the same settings (left as they are). */
  readonly alreadyQuantized: string[];
  /** Targeted sites left dense because their weight is shared (tied embeddings). */
  readonly skippedTied: string[];
  /** Bytes of the targeted sites' base weights before and after (float32 dense → packed). */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

export function resolveQuantizeOptions(options: QuantizeModelOptions): Quantize4Options {
  return {
    quantType: options.quantType ?? 'nf4',
    doubleQuant: options.doubleQuant ?? true,
    blockSize: options.blockSize ?? 64,
  };
}

function targeted(site: LinearSite, targets: readonly string[] | 'all-linear' | undefined): boolean {
  if (targets === undefined || targets === 'all-linear') return !site.isHead;
  return targets.some((t) => site.name === t || site.name.endsWith(`.${t}`));
}

/** Sites sharing a weight variable with another site (tied embeddings): quantizing one would untie them. */
function sharedWeights(model: ModelGraph): Set<unknown> {
  const seen = new Set<unknown>();
  const shared = new Set<unknown>();
  for (const site of model.sites()) {
    const vars = site.kind === 'embedding' ? [site.weight] : site.kind === 'linear' ? site.base.variables : [];
    for (const v of vars) (seen.has(v) ? shared : seen).add(v);
  }
  return shared;
}

function sameSettings(a: Quantize4Options, b: Quantize4Options): boolean {
  return a.quantType === b.quantType && a.blockSize === b.blockSize && a.doubleQuant === b.doubleQuant;
}

/**
 * Swaps the base of every targeted linear site for a QuantizedLinearBase and frees the dense weight (the bias stays a
 * float32 variable). Idempotent; a site already quantized with other settings is a coded error (nothing is changed).
 */
export function quantizeModel(tf: Tf, model: ModelGraph, options: QuantizeModelOptions = {}): QuantizeModelReport {
  const settings = resolveQuantizeOptions(options);
  const sites = [...model.sites()].filter(
    (s): s is LinearSite => s.kind === 'linear' && targeted(s, options.targetModules),
  );
  const report = {
    quantized: [] as string[],
    alreadyQuantized: [] as string[],
    skippedTied: [] as string[],
    bytesBefore: 0,
    bytesAfter: 0,
  };
  for (const site of sites) {
    if (site.base instanceof QuantizedLinearBase && !sameSettings(site.base.options, settings)) {
      throw new PeftkitError(
        'PEFTKIT_E_QLORA_QUANT_MISMATCH',
        `'${site.name}' is already quantized as ${JSON.stringify(site.base.options)}, not ${JSON.stringify(settings)}`,
        { site: site.name, existing: site.base.options, requested: settings },
      );
    }
  }
  const shared = sharedWeights(model);
  for (const site of sites) {
    const base = site.base;
    if (base instanceof QuantizedLinearBase) {
      report.alreadyQuantized.push(site.name);
      report.bytesBefore += 4 * base.inFeatures * base.outFeatures + 4 * (base.bias?.size ?? 0);
      report.bytesAfter += base.byteSize;
      continue;
    }
    if (!(base instanceof DenseLinearBase)) continue;
    if (shared.has(base.weight)) {
      report.skippedTied.push(site.name);
      continue;
    }
    const outIn = base.weightOutIn();
    const values = Float32Array.from(outIn.dataSync() as Float32Array);
    outIn.dispose();
    const quantized = QuantizedLinearBase.fromWeight(
      tf,
      values,
      [base.outFeatures, base.inFeatures],
      settings,
      base.bias,
    );
    report.bytesBefore += base.byteSize;
    site.base = quantized;
    base.weight.dispose();
    report.bytesAfter += quantized.byteSize;
    report.quantized.push(site.name);
  }
  return report;
}

/**
 * Quantize-on-load: a factory for `loadModel(tf, dir, { linearBase })` that packs every targeted linear weight
 * straight from the checkpoint's host array, so the float32 weight never occupies the tensor backend. Together with
 * the packed base staying in ordinary memory, this is what lets QLoRA load and fine-tune a model whose float32
 * weights do not fit the wasm heap. Gives the same packed bytes as loading dense and calling `quantizeModel`.
 */
export function quantizedLinearBases(tf: Tf, options: QuantizeModelOptions = {}): LinearBaseFactory {
  const settings = resolveQuantizeOptions(options);
  const targets = options.targetModules;
  return (site, weightOutIn, shape, bias) => {
    const wanted =
      targets === undefined ||
      targets === 'all-linear' ||
      targets.some((t) => site.name === t || site.name.endsWith(`.${t}`));
    return wanted ? QuantizedLinearBase.fromWeight(tf, weightOutIn, shape, settings, bias) : null;
  };
}
