import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError, Rng } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { Gpt2Model, loadModel, saveModel } from '@peftkit/models';
import { train } from '@peftkit/core/train';
import lora from '@peftkit/lora';
import qlora, { QuantizedLinearBase, quantizedLinearBases, quantizeModel } from '@peftkit/qlora';
import { loadStories260K } from '../../../test/support/learning.ts';

// Quantize-on-load: the float32 linear weights never reach the tensor backend, the packed bases equal those of
// quantizing after a dense load bit for bit, and a QLoRA adapter trains on the model loaded this way.

const kernel = await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } });
kernel.use(lora).use(qlora);
const tf = kernel.tf;

test(
  'loadModel with quantizedLinearBases: packed at load time, ' +
    'same bytes and logits as quantizing after a dense load',
  async (t) => {
    const dense = await loadStories260K(t, tf);
    if (!dense) return;
    try {
      const denseBytes = tf.memory().numBytes;
      quantizeModel(tf, dense.model);
      const before = tf.memory().numBytes;
      const packed = await loadModel(tf, dense.dir, { linearBase: quantizedLinearBases(tf) });
      const added = tf.memory().numBytes - before;
      try {
        const linear = [...packed.model.sites()].filter((s) => s.kind === 'linear');
        const quantized = linear.filter((s) => s.kind === 'linear' && s.base instanceof QuantizedLinearBase);
        assert.equal(quantized.length, linear.length - 1, 'every linear but the head is packed');
        assert.deepEqual(packed.unusedTensors, dense.unusedTensors, 'packed weights count as used');
        assert.ok(added < denseBytes * 0.5, `backend bytes of the packed load ${added} vs dense ${denseBytes}`);
        for (const site of quantized) {
          const other = dense.model.site(site.name);
          assert.ok(
            other?.kind === 'linear' &&
              other.base instanceof QuantizedLinearBase &&
              site.kind === 'linear' &&
              site.base instanceof QuantizedLinearBase,
            site.name,
          );
          assert.deepEqual(site.base.state.packed, other.base.state.packed, `${site.name}: identical packed bytes`);
        }
        const ids = [[1, 50, 80, 120, 7, 9]];
        const a = tf.tidy(() => Array.from(packed.model.forward?.({ ids }).dataSync() ?? []));
        const b = tf.tidy(() => Array.from(dense.model.forward?.({ ids }).dataSync() ?? []));
        assert.deepEqual(a, b, 'identical logits');

        const manager = kernel.adapters(packed.model);
        manager.create('q', 'qlora', { r: 4, target_modules: ['q_proj', 'v_proj'] });
        const data = Array.from({ length: 8 }, (_, i) => ({ ids: [1, 10 + i, 20 + i, 30 + i, 40 + i, 50 + i] }));
        const result = await train({
          tf,
          model: packed.model,
          manager,
          adapter: 'q',
          trainData: data,
          padId: 0,
          options: { steps: 4, batchSize: 4, lr: 1e-2 },
        });
        const losses = result.history.map((e) => e.loss);
        assert.ok((losses.at(-1) as number) < (losses[0] as number), `QLoRA trains on the packed model: ${losses}`);
        manager.dispose();
      } finally {
        packed.model.dispose();
      }
    } finally {
      await dense.cleanup();
    }
  },
);

test('quantized loading is refused with a coded error for architectures without it (GPT-2)', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-qload-'));
  const config = { model_type: 'gpt2', n_embd: 8, n_layer: 1, n_head: 2, vocab_size: 10, n_positions: 8 };
  const model = new Gpt2Model(tf, config, { kind: 'random', rng: new Rng(1) });
  try {
    await saveModel(model, dir, { config });
    await assert.rejects(
      loadModel(tf, dir, { linearBase: quantizedLinearBases(tf) }),
      (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_MODEL_ARCH'),
      'coded error',
    );
  } finally {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
