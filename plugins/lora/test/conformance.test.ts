import { conformanceSuite } from '@peftkit/testing';
import lora from '@peftkit/lora';

// The kit's checks (strict config, identity at init, merge/unmerge, save → load, mixed batch, leak-free dispose)
// for each family of LoRA configurations.
conformanceSuite({
  plugin: lora,
  name: 'lora default (q_proj, v_proj)',
  config: {},
  secondConfig: { r: 4, lora_alpha: 16 },
});

conformanceSuite({
  plugin: lora,
  name: 'lora all-linear + rslora',
  config: { target_modules: 'all-linear', r: 4, lora_alpha: 8, use_rslora: true, lora_dropout: 0.1 },
  secondConfig: { target_modules: ['gate_proj', 'up_proj', 'down_proj'], r: 2 },
});

conformanceSuite({
  plugin: lora,
  name: 'lora rank/alpha patterns',
  config: {
    target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    r: 4,
    rank_pattern: { 'layers.0.self_attn.q_proj': 2, o_proj: 6 },
    alpha_pattern: { v_proj: 32 },
  },
});

conformanceSuite({
  plugin: lora,
  name: 'lora embedding target',
  config: { target_modules: ['embed_tokens', 'q_proj'], r: 4 },
  secondConfig: { target_modules: ['embed_tokens'], r: 2, init_lora_weights: 'gaussian' },
});

conformanceSuite({
  plugin: lora,
  name: 'lora bias lora_only',
  config: { target_modules: ['q_proj', 'v_proj'], bias: 'lora_only' },
});

conformanceSuite({
  plugin: lora,
  name: 'lora seq-cls with modules_to_save',
  task: 'seq-cls',
  config: { target_modules: ['q_proj', 'v_proj'], task_type: 'SEQ_CLS', modules_to_save: ['score'] },
});

conformanceSuite({
  plugin: lora,
  name: 'lora dora',
  config: { target_modules: ['q_proj', 'v_proj', 'down_proj'], use_dora: true, r: 4 },
});
