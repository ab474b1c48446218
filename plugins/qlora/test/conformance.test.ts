import { conformanceSuite } from '@peftkit/testing';
import lora from '@peftkit/lora';
import qlora, { quantizeModel } from '@peftkit/qlora';

// The kit's checks on a model whose base is quantized first (as inject would), so identity, merge and leak checks
// compare against the base QLoRA adapters actually run on. Merges requantize: tolerance from capabilities.
conformanceSuite({
  plugin: qlora,
  dependencies: [lora],
  name: 'qlora nf4 + double quant (q_proj, v_proj)',
  config: {},
  secondConfig: { r: 4, lora_alpha: 16 },
  prepareModel: (tf, model) => {
    quantizeModel(tf, model);
  },
});

conformanceSuite({
  plugin: qlora,
  dependencies: [lora],
  name: 'qlora fp4 all-linear, block 32',
  config: { target_modules: 'all-linear', r: 4, lora_alpha: 8, quant_type: 'fp4', double_quant: false, block_size: 32 },
  secondConfig: {
    target_modules: ['gate_proj', 'up_proj', 'down_proj'],
    r: 2,
    quant_type: 'fp4',
    double_quant: false,
    block_size: 32,
  },
  prepareModel: (tf, model) => {
    quantizeModel(tf, model, { quantType: 'fp4', doubleQuant: false, blockSize: 32 });
  },
});
