/**
 * A third-party method plugin written against @peftkit/core's public exports only: (IA)³, which learns a scaling
 * vector per targeted linear layer — on the output for attention projections, on the input for feed-forward ones.
 * Saved in PEFT's IA3 layout (`base_model.model.<module>.ia3_l`, shape [out, 1] or [1, in]).
 * Plain ESM JavaScript with JSDoc types (a port of test/fixtures/ia3-plugin/index.ts), so plain Node can import it
 * from node_modules: Node strips no TypeScript there.
 */
import { applyWeightUpdates, definePlugin, PeftkitError, z } from '@peftkit/core';

/** @typedef {import('@peftkit/core').MethodContext} MethodContext */
/** @typedef {import('@peftkit/core').LinearSite} LinearSite */
/** @typedef {import('@peftkit/core').SavedAdapter} SavedAdapter */
/** @typedef {ReturnType<MethodContext['tf']['tensor']>} Tensor */
/** @typedef {ReturnType<MethodContext['tf']['variable']>} Variable */
/** @typedef {{ site: LinearSite, feedforward: boolean, scale: Variable }} Ia3Layer  scale: [out] or [in] */
/** @typedef {{ layers: Ia3Layer[], merged: boolean, trainableVariables: Variable[] }} Ia3Handle */

const Config = z.strictObject({
  target_modules: z.array(z.string().min(1)).min(1).default(['k_proj', 'v_proj', 'down_proj']),
  feedforward_modules: z.array(z.string().min(1)).default(['down_proj']),
  init_ia3_weights: z.boolean().default(true),
});
/** @typedef {import('@peftkit/core').z.infer<typeof Config>} Ia3Config */

const PREFIX = 'base_model.model.';
/** @param {string} name @param {string} entry */
const matches = (name, entry) => name === entry || name.endsWith(`.${entry}`);

/** @param {MethodContext} ctx @param {Ia3Config} config @returns {Ia3Handle} */
function inject(ctx, config) {
  const { tf, model, adapterName } = ctx;
  /** @type {Ia3Handle} */
  const handle = { layers: [], merged: false, trainableVariables: [] };
  for (const site of model.sites()) {
    if (site.kind !== 'linear' || site.isHead || !config.target_modules.some((t) => matches(site.name, t))) continue;
    const feedforward = config.feedforward_modules.some((t) => matches(site.name, t));
    const size = feedforward ? site.base.inFeatures : site.base.outFeatures;
    const init = config.init_ia3_weights ? tf.ones([size]) : tf.tensor(ctx.rng.normalArray(size, 1, 0.02), [size]);
    const scale = tf.variable(init, true);
    init.dispose();
    handle.layers.push({ site, feedforward, scale });
  }
  if (handle.layers.length === 0) {
    throw new PeftkitError(
      'PEFTKIT_E_CONFIG_INVALID',
      `no module matches target_modules ${JSON.stringify(config.target_modules)}`,
      {},
    );
  }
  for (const { site, scale, feedforward } of handle.layers) {
    site.hooks.attach(adapterName, {
      apply(input, output) {
        if (handle.merged) return output;
        if (!feedforward) return tf.mul(output, scale);
        const [b, s, f] = input.shape;
        const y = site.base.forward(tf.reshape(tf.mul(input, scale), [b * s, f]));
        return tf.reshape(y, [b, s, site.base.outFeatures]);
      },
    });
  }
  handle.trainableVariables = handle.layers.map((l) => l.scale);
  return handle;
}

/** The scale as a row (feed-forward: scales inputs) or a column (scales outputs) of W [out, in]. */
const shaped = (/** @type {MethodContext['tf']} */ tf, /** @type {Ia3Layer} */ layer) =>
  tf.reshape(layer.scale, layer.feedforward ? [1, -1] : [-1, 1]);

/** @param {MethodContext} ctx @param {Ia3Handle} handle @param {{ safe: boolean }} options */
function merge(ctx, handle, options) {
  if (handle.merged) return;
  const { tf } = ctx;
  // delta = W·diag(l) − W (feed-forward) or diag(l)·W − W
  const updates = handle.layers.map((layer) => ({
    site: layer.site,
    delta: tf.tidy(() => tf.mul(layer.site.base.weightOutIn(), tf.sub(shaped(tf, layer), 1))),
  }));
  try {
    applyWeightUpdates(tf, updates, options);
  } finally {
    for (const u of updates) u.delta.dispose();
  }
  handle.merged = true;
}

/** @param {MethodContext} ctx @param {Ia3Handle} handle */
function unmerge(ctx, handle) {
  if (!handle.merged) return;
  const { tf } = ctx;
  // W = W' / l, so the delta to subtract is W' − W'/l.
  const updates = handle.layers.map((layer) => ({
    site: layer.site,
    delta: tf.tidy(() => {
      const merged = layer.site.base.weightOutIn();
      return tf.sub(merged, tf.div(merged, shaped(tf, layer)));
    }),
  }));
  try {
    applyWeightUpdates(tf, updates, { safe: false, sign: -1 });
  } finally {
    for (const u of updates) u.delta.dispose();
  }
  handle.merged = false;
}

/** @param {MethodContext} ctx @param {Ia3Handle} handle @param {Ia3Config} config @returns {SavedAdapter} */
function save(ctx, handle, config) {
  /** @type {Record<string, Tensor>} */
  const tensors = {};
  for (const layer of handle.layers) tensors[`${PREFIX}${layer.site.name}.ia3_l`] = shaped(ctx.tf, layer);
  return {
    config: {
      peft_type: 'IA3',
      task_type: ctx.model.task === 'seq-cls' ? 'SEQ_CLS' : 'CAUSAL_LM',
      inference_mode: true,
      target_modules: config.target_modules,
      feedforward_modules: config.feedforward_modules,
      init_ia3_weights: config.init_ia3_weights,
      base_model_name_or_path: null,
      revision: null,
      peft_version: `peftkit-plugin-ia3@${plugin.meta.version}`,
    },
    tensors,
  };
}

/** @param {MethodContext} ctx @param {SavedAdapter} saved @returns {{ handle: Ia3Handle, config: Ia3Config }} */
function load(ctx, saved) {
  // PEFT's configs carry keys this plugin does not know: keep only its own.
  const known = new Set(Object.keys(Config.shape));
  const config = Config.parse({
    ...Object.fromEntries(Object.entries(saved.config).filter(([k]) => known.has(k))),
    init_ia3_weights: true,
  });
  const handle = inject(ctx, config);
  for (const layer of handle.layers) {
    const key = `${PREFIX}${layer.site.name}.ia3_l`;
    const t = saved.tensors[key];
    if (t === undefined || t.size !== layer.scale.size) {
      dispose(ctx, handle);
      const code = t === undefined ? 'PEFTKIT_E_ADAPTER_KEY_MISSING' : 'PEFTKIT_E_ADAPTER_KEY_SHAPE';
      throw new PeftkitError(code, `tensor '${key}' is missing or misshaped`, { key });
    }
    ctx.tf.tidy(() => layer.scale.assign(ctx.tf.reshape(t, layer.scale.shape)));
  }
  return { handle, config };
}

/** @param {MethodContext} ctx @param {Ia3Handle} handle */
function dispose(ctx, handle) {
  unmerge(ctx, handle);
  for (const layer of handle.layers) {
    layer.site.hooks.detach(ctx.adapterName);
    layer.scale.dispose();
  }
}

const plugin = definePlugin({
  meta: {
    name: 'ia3',
    version: '0.1.0',
    core: '^1.0.0',
    family: 'reparam',
    peftType: 'IA3',
    description: '(IA)³ activation scaling',
  },
  configSchema: Config,
  capabilities: { merge: 'exact', identityAtInit: true, mixedBatch: true, mergeTolerance: 1e-5 },
  inject,
  merge,
  unmerge,
  save,
  load,
  dispose,
});

export default plugin;
