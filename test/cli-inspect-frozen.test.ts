import { runMain } from './support/cli-main.ts';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { writeAdapterDir } from '@peftkit/core';
import { saveModel } from '@peftkit/models';
import { createTestKernel, createTinyLlama, TINY_LLAMA_CONFIG } from '@peftkit/testing';
import frozen, { PROJECTION_SHAPE } from './fixtures/frozen-plugin/index.ts';

// `peftkit inspect` asks the adapter's plugin which of the saved tensors are trained: a VeRA-like file holds a
// frozen projection next to its trained vectors, which a count of the file's tensors would call trainable.

const kernel = await createTestKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
kernel.use(frozen);
const root = await mkdtemp(join(tmpdir(), 'peftkit-inspect-frozen-'));
after(() => rm(root, { recursive: true, force: true }));
const pluginPath = fileURLToPath(new URL('./fixtures/frozen-plugin/index.ts', import.meta.url));

const run = runMain;

test('inspect reports trainable vs frozen parameters as the plugin counts them', async () => {
  const modelDir = join(root, 'model');
  const adapterDir = join(root, 'adapter');
  const model = createTinyLlama(kernel.tf, { seed: 3 });
  await saveModel(model, modelDir, { config: { ...TINY_LLAMA_CONFIG } });
  const manager = kernel.adapters(model);
  const trainable = manager.create('a', 'ia3-frozen', {}).handle.trainableVariables.reduce((n, v) => n + v.size, 0);
  const saved = manager.save('a');
  await writeAdapterDir(adapterDir, saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  manager.dispose();
  model.dispose();
  const projection = PROJECTION_SHAPE[0] * PROJECTION_SHAPE[1];

  const r = await run(['inspect', adapterDir, '--model', modelDir, '--plugin', pluginPath, '--json']);
  assert.equal(r.code, 0, r.err);
  const info = JSON.parse(r.out) as Record<string, number | null>;
  assert.equal(info.parameters, trainable + projection, 'the file holds both');
  assert.equal(info.trainableParameters, trainable, 'only the scaling vectors are trained');
  assert.equal(info.frozenParameters, projection, 'the projection is frozen');
  assert.equal(info.residentBytes, (trainable + projection) * 4);
  assert.ok(
    Math.abs((info.trainablePercent as number) - (100 * trainable) / (info.baseParameters as number)) < 1e-9,
    'share of the trained ones',
  );

  const text = await run(['inspect', adapterDir, '--model', modelDir, '--plugin', pluginPath]);
  assert.match(text.out, new RegExp(`trainable / frozen\\s+${trainable} / ${projection} parameters`), text.out);
  const noModel = await run(['inspect', adapterDir, '--plugin', pluginPath]);
  assert.match(noModel.out, /trainable \/ frozen\s+unknown \(needs the base model: --model <base-dir>\)/, noModel.out);
});
