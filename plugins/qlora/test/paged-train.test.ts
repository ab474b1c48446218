import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, tinyBatch } from '@peftkit/testing';
import { type OptimizerFactory, train } from '@peftkit/core/train';
import lora from '@peftkit/lora';
import qlora, { pagedAdamW } from '@peftkit/qlora';

// QLoRA through the core training loop: AdamW vs PagedAdamW under a tiny byte budget give the same loss curve.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(lora);
kernel.use(qlora);

async function losses(optimizer: 'adamw' | OptimizerFactory): Promise<number[]> {
  const model = createTinyLlama(kernel.tf, { seed: 8 });
  const manager = kernel.adapters(model);
  manager.create('q', 'qlora', { target_modules: 'all-linear', r: 4 }, { seed: 3 });
  const trainData = tinyBatch(8, 10, 4).map((ids) => ({ ids, labels: ids }));
  const seen: number[] = [];
  await train({
    tf: kernel.tf,
    model,
    manager,
    adapter: 'q',
    trainData,
    padId: 0,
    options: { steps: 4, batchSize: 4, lr: 1e-2, optimizer, schedule: 'constant' },
    callbacks: { onStep: (e) => void seen.push(e.loss) },
  });
  manager.dispose();
  model.dispose();
  return seen;
}

test('QLoRA training: PagedAdamW (budget 1 KiB, spilling) gives the loss curve of AdamW', async () => {
  const factory: OptimizerFactory = pagedAdamW({ budgetBytes: 1024 });
  const reference = await losses('adamw');
  const paged = await losses(factory);
  assert.equal(reference.length, 4, 'four steps');
  assert.ok((reference.at(-1) as number) < (reference[0] as number), `loss falls: ${reference.join(', ')}`);
  for (let i = 0; i < reference.length; i++)
    assert.ok(
      Math.abs((paged[i] as number) - (reference[i] as number)) <= 1e-6,
      `step ${i}: ${paged[i]} vs ${reference[i]}`,
    );
});
