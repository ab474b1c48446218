import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeAdapterDir } from '@peftkit/core';
import { createTestKernel, createTinyLlama, logits, maxAbsDiff, perturb, tinyBatch } from '@peftkit/testing';
import lora from '@peftkit/lora';
import frozen, { PROJECTION_SHAPE } from '../../test/fixtures/frozen-plugin/index.ts';
import { AdapterCache } from '../src/engine/cache.ts';
import { toHttpError } from '../src/http/errors.ts';

// The adapter cache on a tiny model (no shared model needed): merged_adapters go through the owning plugin's
// `combine` hook, a method without one is a coded 400, and the byte budget counts frozen tensors too.

const kernel = await createTestKernel({ backend: 'cpu', logger: { warn() {}, info() {} } });
kernel.use(lora).use(frozen);
const tf = kernel.tf;
const root = await mkdtemp(join(tmpdir(), 'peftkit-cache-'));
after(() => rm(root, { recursive: true, force: true }));

/** Writes adapter `name` of `method` (perturbed) under the root. */
async function writeAdapter(
  name: string,
  method: string,
  config: Record<string, unknown>,
  seed: number,
): Promise<void> {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  perturb(tf, manager.create(name, method, config, { seed }).handle.trainableVariables, seed);
  const saved = manager.save(name);
  await writeAdapterDir(join(root, name), saved);
  for (const t of Object.values(saved.tensors)) t.dispose();
  manager.dispose();
  model.dispose();
}

await writeAdapter('x', 'lora', { r: 4 }, 1);
await writeAdapter('y', 'lora', { r: 4 }, 2);
await writeAdapter('f', 'ia3-frozen', {}, 3);

test('merged_adapters are built by the plugin combine hook; methods without one get a coded 400', async () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  const cache = new AdapterCache(manager, tf, { root, budgetBytes: 1 << 30 });
  const lease = await cache.acquireMerged({ ids: ['x', 'y'], weights: [0.6, 0.4], strategy: 'ties', density: 0.5 });
  const x = await cache.acquire('x');
  const y = await cache.acquire('y');
  manager.combine(
    'direct',
    [
      { adapter: x.internal, weight: 0.6 },
      { adapter: y.internal, weight: 0.4 },
    ],
    { strategy: 'ties', density: 0.5 },
  );
  const ids = tinyBatch(2, 5);
  assert.ok(
    maxAbsDiff(logits(model, ids, { active: [lease.internal] }), logits(model, ids, { active: ['direct'] })) <= 1e-6,
    'same as manager.combine',
  );
  assert.equal(manager.get(lease.internal).plugin, lora);
  for (const l of [lease, x, y]) l.release();

  await assert.rejects(cache.acquireMerged({ ids: ['f'], weights: [1], strategy: 'linear' }), (e) => {
    const http = toHttpError(e);
    assert.equal(http.status, 400, 'a client error');
    assert.equal(http.code, 'merge_unsupported');
    assert.match(http.message, /ia3-frozen/);
    return true;
  });
  cache.dispose();
  manager.dispose();
  model.dispose();
});

test('the cache budget counts an adapter by its plugin stats (frozen tensors included)', async () => {
  const model = createTinyLlama(tf);
  const manager = kernel.adapters(model);
  const cache = new AdapterCache(manager, tf, { root, budgetBytes: 1 << 30 });
  await cache.load('f');
  const info = cache.list().find((a) => a.name === 'f');
  const internal = manager.list()[0]?.name as string;
  const stats = manager.stats(internal);
  const projection = PROJECTION_SHAPE[0] * PROJECTION_SHAPE[1];
  assert.equal(stats.frozenParams, projection);
  assert.equal(info?.bytes, stats.residentBytes, 'bytes are the resident bytes');
  assert.equal(info?.bytes, (stats.trainableParams + projection) * 4, 'trainable and frozen tensors, float32');
  assert.equal(info?.parameters, stats.trainableParams, 'parameters are the trainable ones');
  cache.dispose();
  manager.dispose();
  model.dispose();
});
