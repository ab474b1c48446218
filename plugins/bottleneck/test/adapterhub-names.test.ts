import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { disposeSaved, readAdapterDir, writeAdapterDir } from '@peftkit/core';
import { createTestKernel as createKernel, createTinyLlama } from '@peftkit/testing';
import bottleneck from '@peftkit/bottleneck';

// The adapters library (AdapterHub) names its files in adapters/utils.py: CONFIG_NAME "adapter_config.json",
// SAFE_WEIGHTS_NAME "adapter.safetensors" (use_safetensors=True) and WEIGHTS_NAME "pytorch_adapter.bin" (a pickle).

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(bottleneck);

test("a saved bottleneck adapter uses AdapterHub's safetensors file names and reads back", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-adapterhub-names-'));
  const model = createTinyLlama(kernel.tf, { seed: 1 });
  try {
    const manager = kernel.adapters(model);
    manager.create('task', 'bottleneck', { preset: 'pfeiffer' });
    const saved = manager.save('task');
    await writeAdapterDir(dir, saved);
    disposeSaved(saved);
    assert.deepEqual(
      (await readdir(dir)).sort(),
      ['adapter.safetensors', 'adapter_config.json'],
      "AdapterHub's CONFIG_NAME and SAFE_WEIGHTS_NAME",
    );
    const back = await readAdapterDir(kernel.tf, dir);
    assert.equal(back.files?.weights, 'adapter.safetensors', 'read back from adapter.safetensors');
    disposeSaved(back);
    manager.dispose();
  } finally {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('an AdapterHub directory holding only pytorch_adapter.bin is refused with what to do', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-adapterhub-pickle-'));
  try {
    await writeFile(
      join(dir, 'adapter_config.json'),
      JSON.stringify({ config: { architecture: 'bottleneck' }, name: 'x' }),
    );
    await writeFile(join(dir, 'pytorch_adapter.bin'), new Uint8Array([0x80, 0x02]));
    await assert.rejects(
      readAdapterDir(kernel.tf, dir),
      (e: Error) =>
        /pytorch_adapter\.bin is a PyTorch pickle/.test(e.message) && /use_safetensors=True/.test(e.message),
      'names the pickle and how to re-save it',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
