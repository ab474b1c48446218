import { conformanceSuite } from '@peftkit/testing';
import bottleneck from '@peftkit/bottleneck';

// The kit's checks (strict config, merge refused, save → load, coexisting adapters, mixed batch, leak-free dispose)
// for AdapterHub's two named configurations and the optional parts of the bottleneck layer.
conformanceSuite({
  plugin: bottleneck,
  name: 'bottleneck pfeiffer (seq_bn)',
  config: { preset: 'pfeiffer', reduction_factor: 4 },
  secondConfig: { preset: 'seq_bn', reduction_factor: 2, residual_before_ln: false, init_weights: 'houlsby' },
});

conformanceSuite({
  plugin: bottleneck,
  name: 'bottleneck houlsby (double_seq_bn)',
  config: { preset: 'houlsby', reduction_factor: 4 },
  secondConfig: {
    preset: 'double_seq_bn',
    reduction_factor: { default: 8, '1': 2 },
    leave_out: [0],
    non_linearity: 'gelu',
  },
});

conformanceSuite({
  plugin: bottleneck,
  name: 'bottleneck with adapter LayerNorms, scaling and dropout',
  config: { preset: 'houlsby', reduction_factor: 4, ln_before: true, ln_after: true, scaling: 0.5, dropout: 0.1 },
  secondConfig: { preset: 'pfeiffer', ln_after: true, adapter_residual_before_ln: true, init_weights: 'mam' },
});

conformanceSuite({
  plugin: bottleneck,
  name: 'bottleneck seq-cls',
  task: 'seq-cls',
  config: { preset: 'pfeiffer', reduction_factor: 4 },
  secondConfig: { preset: 'houlsby', reduction_factor: 8 },
});
