import { type BlockSite, type MethodContext, type MethodHandle, PeftkitError, type SiteHook } from '@peftkit/core';
import type { Tensor3D, Variable } from '@peftkit/core';
import { type BottleneckConfig, bottleneckSize, reductionFactorFor } from './config.ts';
import {
  type BottleneckLayer,
  bottleneckForward,
  createLayer,
  disposeLayer,
  layerVariables,
  type OriginalNorm,
} from './layer.ts';
import { isPostNorm } from './naming.ts';

export interface BottleneckHandle extends MethodHandle {
  readonly config: BottleneckConfig;
  /** One layer per adapted block site, in model order. */
  readonly layers: readonly BottleneckLayer[];
  readonly trainableVariables: readonly Variable[];
}

function configError(message: string, details: Record<string, unknown>): PeftkitError {
  return new PeftkitError('PEFTKIT_E_BOTTLENECK_CONFIG', message, details);
}

/** The block sites this config adapts: `mh_adapter` → attention, `output_adapter` → MLP, minus `leave_out` layers. */
export function targetSites(ctx: MethodContext, config: BottleneckConfig): BlockSite[] {
  const leave = new Set(config.leave_out);
  const sites: BlockSite[] = [];
  for (const site of ctx.model.sites()) {
    if (site.kind !== 'block' || leave.has(site.layer)) continue;
    if ((site.role === 'attention' && config.mh_adapter) || (site.role === 'mlp' && config.output_adapter))
      sites.push(site);
  }
  return sites;
}

/** BERT's pretrained LayerNorm after a sub-layer (`<site>.LayerNorm`), needed when `original_ln_before` is set. */
function originalNormOf(ctx: MethodContext, site: BlockSite): OriginalNorm {
  const params = ctx.model.parameters();
  const weight = params.get(`${site.name}.LayerNorm.weight`);
  const bias = params.get(`${site.name}.LayerNorm.bias`);
  if (weight === undefined || bias === undefined) {
    throw configError(
      `original_ln_before needs the LayerNorm '${site.name}.LayerNorm', which the model does not have`,
      { site: site.name },
    );
  }
  const eps = (ctx.model as { config?: { layerNormEps?: unknown } }).config?.layerNormEps;
  return { weight, bias, eps: typeof eps === 'number' ? eps : 1e-12 };
}

function checkConfig(ctx: MethodContext, config: BottleneckConfig): void {
  const { numLayers } = ctx.model.dims;
  const rf = config.reduction_factor;
  if (typeof rf !== 'number') {
    for (const key of Object.keys(rf)) {
      if (key !== 'default' && Number(key) >= numLayers)
        throw configError(`reduction_factor names layer ${key}, but the model has ${numLayers} layers`, { layer: key });
    }
    for (let i = 0; i < numLayers; i++) {
      if (!config.leave_out.includes(i) && reductionFactorFor(config, i) === undefined) {
        throw configError(`reduction_factor gives no value for layer ${i} and no "default"`, { layer: i });
      }
    }
  }
  if (config.residual_before_ln === 'post_add' && !config.original_ln_before) {
    // AdapterHub: "post_add" is only applicable with original_ln_before (it leaves the residual undefined otherwise).
    throw configError('residual_before_ln: "post_add" requires original_ln_before: true', {
      residual_before_ln: 'post_add',
    });
  }
  if (config.original_ln_before && config.residual_before_ln === 'post_add' && !isPostNorm(ctx.model)) {
    // AdapterHub passes no LayerNorm on pre-norm models, where 'post_add' leaves the residual undefined.
    throw configError(
      `residual_before_ln: "post_add" needs a post-norm model (BERT); '${ctx.model.arch}' is pre-norm`,
      { arch: ctx.model.arch },
    );
  }
}

export function injectBottleneck(ctx: MethodContext, config: BottleneckConfig): BottleneckHandle {
  checkConfig(ctx, config);
  const sites = targetSites(ctx, config);
  if (sites.length === 0) {
    throw configError(
      `no block site to adapt in '${ctx.model.arch}' (mh_adapter ${config.mh_adapter}, ` +
        `output_adapter ${config.output_adapter}, leave_out [${config.leave_out}])`,
      {
        arch: ctx.model.arch,
      },
    );
  }
  const postNorm = isPostNorm(ctx.model);
  const layers: BottleneckLayer[] = [];
  const attached: BlockSite[] = [];
  try {
    for (const site of sites) {
      const rf = reductionFactorFor(config, site.layer) as number;
      const norm = config.original_ln_before && postNorm ? originalNormOf(ctx, site) : null;
      const layer = createLayer(ctx, config, site, bottleneckSize(site.dim, rf), norm);
      layers.push(layer);
      const hook: SiteHook = {
        apply: (input, output, call) => bottleneckForward(ctx.tf, config, layer, input as Tensor3D, output, call),
      };
      site.hooks.attach(ctx.adapterName, hook);
      attached.push(site);
    }
  } catch (error) {
    for (const site of attached) site.hooks.detach(ctx.adapterName);
    for (const layer of layers) disposeLayer(layer);
    throw error;
  }
  return { config, layers, trainableVariables: layers.flatMap(layerVariables), merged: false };
}

export function disposeBottleneck(ctx: MethodContext, handle: BottleneckHandle): void {
  for (const layer of handle.layers) {
    layer.site.hooks.detach(ctx.adapterName);
    disposeLayer(layer);
  }
}

/** Trainable parameter count of a handle (AdapterHub's per-adapter count). */
export function parameterCount(handle: BottleneckHandle): number {
  return handle.trainableVariables.reduce((sum, v) => sum + v.size, 0);
}
