import type { BlockSite, ModelGraph } from '@peftkit/core';
import type { BottleneckLayer } from './layer.ts';

/**
 * AdapterHub's tensor names. BERT's adapters live inside the sub-layer output modules (`BertSelfOutput`, `BertOutput`):
 * `bert.encoder.layer.{i}.attention.output.adapters.{name}.…` and `bert.encoder.layer.{i}.output.adapters.{name}.…`.
 * For the decoder-only models AdapterHub hangs two `BottleneckLayer`s on the block itself, `attention_adapters` and
 * `output_adapters`: `transformer.h.{i}.attention_adapters.adapters.{name}.…` (GPT-2) and
 * `model.layers.{i}.output_adapters.adapters.{name}.…` (Llama); peftkit uses the same names.
 */

/** Architectures whose block sites are post-norm sub-layer output modules that own the following LayerNorm. */
export const POST_NORM_ARCHS: ReadonlySet<string> = new Set(['bert']);

export function isPostNorm(model: ModelGraph): boolean {
  return POST_NORM_ARCHS.has(model.arch);
}

/** The module path (without the parameter) of one adapter at one site. */
export function adapterModulePath(model: ModelGraph, site: BlockSite, adapter: string): string {
  if (isPostNorm(model)) return `${site.name}.adapters.${adapter}`;
  const block = site.name.slice(0, site.name.lastIndexOf('.'));
  return `${block}.${site.role === 'attention' ? 'attention_adapters' : 'output_adapters'}.adapters.${adapter}`;
}

/**
 * File key → variable of one layer, in AdapterHub's `nn.Sequential` numbering
 * (`adapter_down.0` is the LN when `ln_before`).
 */
export function layerTensorNames(path: string, layer: BottleneckLayer): [string, BottleneckLayer['down']][] {
  const out: [string, BottleneckLayer['down']][] = [];
  let index = 0;
  if (layer.lnBefore) {
    out.push(
      [`${path}.adapter_down.0.weight`, layer.lnBefore.weight],
      [`${path}.adapter_down.0.bias`, layer.lnBefore.bias],
    );
    index = 1;
  }
  out.push(
    [`${path}.adapter_down.${index}.weight`, layer.down],
    [`${path}.adapter_down.${index}.bias`, layer.downBias],
  );
  out.push([`${path}.adapter_up.weight`, layer.up], [`${path}.adapter_up.bias`, layer.upBias]);
  if (layer.lnAfter)
    out.push(
      [`${path}.adapter_norm_after.weight`, layer.lnAfter.weight],
      [`${path}.adapter_norm_after.bias`, layer.lnAfter.bias],
    );
  return out;
}

/** Adapter names found in a file's keys (`….adapters.{name}.adapter_…`). */
export function adapterNamesInKeys(keys: Iterable<string>): Set<string> {
  const names = new Set<string>();
  for (const key of keys) {
    const match = /\.adapters\.(.+)\.(adapter_down\.\d+|adapter_up|adapter_norm_after)\.(weight|bias)$/.exec(key);
    if (match?.[1] !== undefined) names.add(match[1]);
  }
  return names;
}
