import { z } from '@peftkit/core';

/**
 * AdapterHub's `BnConfig` (adapters `configuration/adapter_config.py`) restricted to the sequential bottleneck adapter
 * this plugin implements, with AdapterHub's field names. `preset` picks AdapterHub's named configurations:
 * `seq_bn` / `pfeiffer` (one adapter after the FFN, ReLU, original LayerNorm before the adapter) and
 * `double_seq_bn` / `houlsby` (after attention and after the FFN, swish); explicit fields override the preset.
 */

/** Non-linearities AdapterHub resolves through transformers' `get_activation` (lower-cased). */
export const NON_LINEARITIES = ['relu', 'swish', 'silu', 'gelu', 'gelu_new', 'tanh', 'sigmoid', 'leakyrelu'] as const;
export type NonLinearity = (typeof NON_LINEARITIES)[number];

export const PRESETS = {
  seq_bn: { mh_adapter: false, output_adapter: true, non_linearity: 'relu', original_ln_before: true },
  double_seq_bn: { mh_adapter: true, output_adapter: true, non_linearity: 'swish', original_ln_before: false },
} as const;
const PRESET_ALIASES = {
  seq_bn: 'seq_bn',
  pfeiffer: 'seq_bn',
  double_seq_bn: 'double_seq_bn',
  houlsby: 'double_seq_bn',
} as const;

const factor = z.number().positive();
/** A scalar, or AdapterHub's per-layer mapping `{"1": 8, "default": 16}` (layer ids as strings). */
const ReductionFactorSchema = z.union([
  factor,
  z
    .record(z.string().regex(/^(\d+|default)$/, 'keys are layer indices or "default"'), factor)
    .refine((m) => Object.keys(m).length > 0, 'empty mapping'),
]);

const NonLinearitySchema = z.preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(NON_LINEARITIES));

export const BottleneckConfigSchema = z
  .strictObject({
    preset: z.enum(['seq_bn', 'pfeiffer', 'double_seq_bn', 'houlsby']).default('seq_bn'),
    mh_adapter: z.boolean().optional(),
    output_adapter: z.boolean().optional(),
    reduction_factor: ReductionFactorSchema.default(16),
    non_linearity: NonLinearitySchema.optional(),
    original_ln_before: z.boolean().optional(),
    /**
     * AdapterHub's layer-hook mode refuses `false` as well: the model always adds
     * its residual (and norm) after the hooks.
     */
    original_ln_after: z.boolean().default(true),
    residual_before_ln: z.union([z.boolean(), z.literal('post_add')]).default(true),
    adapter_residual_before_ln: z.boolean().default(false),
    ln_before: z.boolean().default(false),
    ln_after: z.boolean().default(false),
    /** `mam` is accepted as shorthand for AdapterHub's `mam_adapter`. */
    init_weights: z.enum(['bert', 'mam_adapter', 'mam', 'houlsby']).default('bert'),
    scaling: z.number().finite().default(1),
    dropout: z.number().min(0).lt(1).default(0),
    leave_out: z.array(z.number().int().nonnegative()).default([]),
    base_model_name_or_path: z.string().nullable().default(null),
  })
  .superRefine((c, ctx) => {
    if (!c.original_ln_after) {
      ctx.addIssue({
        code: 'custom',
        path: ['original_ln_after'],
        message: 'original_ln_after: false is not supported (the model always applies its residual after the adapter)',
      });
    }
  })
  .transform((c) => {
    const preset = PRESETS[PRESET_ALIASES[c.preset]];
    return {
      mh_adapter: c.mh_adapter ?? preset.mh_adapter,
      output_adapter: c.output_adapter ?? preset.output_adapter,
      reduction_factor: c.reduction_factor,
      non_linearity: c.non_linearity ?? (preset.non_linearity as NonLinearity),
      original_ln_before: c.original_ln_before ?? preset.original_ln_before,
      original_ln_after: true as const,
      residual_before_ln: c.residual_before_ln,
      adapter_residual_before_ln: c.adapter_residual_before_ln,
      ln_before: c.ln_before,
      ln_after: c.ln_after,
      init_weights: c.init_weights === 'mam' ? ('mam_adapter' as const) : c.init_weights,
      scaling: c.scaling,
      dropout: c.dropout,
      leave_out: [...c.leave_out].sort((a, b) => a - b),
      base_model_name_or_path: c.base_model_name_or_path,
    };
  });

/** A fully resolved config (no preset left: every field explicit). */
export type BottleneckConfig = z.output<typeof BottleneckConfigSchema>;

/** AdapterHub's rule: a mapping gives the layer's own factor or its `default`. */
export function reductionFactorFor(config: BottleneckConfig, layer: number): number | undefined {
  const rf = config.reduction_factor;
  if (typeof rf === 'number') return rf;
  return rf[String(layer)] ?? rf.default;
}

/** Bottleneck width: `int(hidden // reduction_factor)`, at least 1 (AdapterHub's `Adapter`). */
export function bottleneckSize(hidden: number, reductionFactor: number): number {
  return Math.max(1, Math.floor(hidden / reductionFactor));
}
