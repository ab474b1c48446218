import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { createTinyLlama } from '@peftkit/testing';
import { latestCheckpoint, type TrainExample, train } from '@peftkit/core/train';
import bottleneck from '@peftkit/bottleneck';
import pTuning from '@peftkit/p-tuning';
import pTuningV2 from '@peftkit/p-tuning-v2';
import prefixTuning from '@peftkit/prefix-tuning';
import promptTuning from '@peftkit/prompt-tuning';

// Exact resume through the core trainer for methods whose inference file drops training state: P-Tuning's prompt
// encoder and prefix tuning's projection MLP must come back from the checkpoint (the plugins' saveCheckpoint hook),
// or the resumed losses diverge. Bottleneck covers an additive method.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
for (const plugin of [promptTuning, pTuning, prefixTuning, pTuningV2, bottleneck]) kernel.use(plugin);
const tf = kernel.tf;

function examples(count: number, seed: number): TrainExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const first = 1 + rng.int(59);
    return { ids: Array.from({ length: 4 + rng.int(4) }, (_, i) => 1 + ((first + 3 * i) % 60)) };
  });
}

const trainData = examples(8, 3);
const options = {
  steps: 6,
  batchSize: 2,
  lr: 2e-2,
  schedule: 'linear' as const,
  warmupSteps: 1,
  saveEvery: 3,
  seed: 4,
};

const CASES: [string, string, Record<string, unknown>][] = [
  [
    'P-Tuning (LSTM encoder)',
    'p-tuning',
    { num_virtual_tokens: 3, encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 8 },
  ],
  [
    'prefix tuning (projection MLP)',
    'prefix-tuning',
    { num_virtual_tokens: 3, prefix_projection: true, encoder_hidden_size: 8 },
  ],
  [
    'P-Tuning v2 (prefix dropout)',
    'p-tuning-v2',
    { num_virtual_tokens: 3, prefix_projection: true, encoder_hidden_size: 8, prefix_dropout: 0.2 },
  ],
  ['bottleneck (Houlsby)', 'bottleneck', { preset: 'houlsby', reduction_factor: 4, dropout: 0.1 }],
];

for (const [label, method, config] of CASES) {
  test(`${label}: 6 steps straight = 3 steps, checkpoint, fresh model, resume to 6`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peftkit-resume-m-'));
    try {
      const fresh = (create: boolean) => {
        const model = createTinyLlama(tf, { seed: 2 });
        const manager = kernel.adapters(model);
        if (create) manager.create('m', method, config, { seed: 1 });
        return { model, manager };
      };
      const a = fresh(true);
      const straight = await train({
        tf,
        model: a.model,
        manager: a.manager,
        adapter: 'm',
        trainData,
        padId: 0,
        options,
        outDir: join(dir, 'straight'),
      });
      const want = a.manager.trainableVariables('m').map((v) => Array.from(v.dataSync()));
      a.manager.dispose();
      a.model.dispose();

      const b = fresh(true);
      const stop = new AbortController();
      const first = await train({
        tf,
        model: b.model,
        manager: b.manager,
        adapter: 'm',
        trainData,
        padId: 0,
        options,
        outDir: join(dir, 'run'),
        signal: stop.signal,
        callbacks: { onSave: () => stop.abort() },
      });
      b.manager.dispose();
      b.model.dispose();
      assert.equal(first.step, 3, 'stopped at the first checkpoint');
      const c = fresh(false);
      const resumed = await train({
        tf,
        model: c.model,
        manager: c.manager,
        adapter: 'm',
        trainData,
        padId: 0,
        options,
        outDir: join(dir, 'run'),
        resumeFrom: (await latestCheckpoint(join(dir, 'run'))) as string,
      });
      const losses = [...first.history, ...resumed.history].map((e) => e.loss);
      for (const [i, e] of straight.history.entries()) {
        assert.ok(
          Math.abs(e.loss - (losses[i] as number)) <= 1e-6,
          `${label} step ${i + 1}: ${e.loss} vs ${losses[i]}`,
        );
      }
      const got = c.manager.trainableVariables('m').map((v) => Array.from(v.dataSync()));
      assert.equal(
        got.length,
        want.length,
        `${label}: the resumed adapter has every trainable variable (encoder included)`,
      );
      assert.deepEqual(got, want, `${label}: identical final weights`);
      c.manager.dispose();
      c.model.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('resuming over an adapter of another shape or method is refused before the adapter is replaced', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-resume-x-'));
  try {
    const model = createTinyLlama(tf, { seed: 2 });
    const manager = kernel.adapters(model);
    manager.create('m', 'bottleneck', { preset: 'houlsby', reduction_factor: 4 }, { seed: 1 });
    await train({ tf, model, manager, adapter: 'm', trainData, padId: 0, options, outDir: join(dir, 'run') });
    const checkpoint = (await latestCheckpoint(join(dir, 'run'))) as string;
    manager.delete('m');
    const other = manager.create('m', 'bottleneck', { preset: 'houlsby', reduction_factor: 2 }, { seed: 1 });
    const before = other.handle.trainableVariables.map((v) => Array.from(v.dataSync()));
    await assert.rejects(
      train({
        tf,
        model,
        manager,
        adapter: 'm',
        trainData,
        padId: 0,
        options,
        outDir: join(dir, 'run'),
        resumeFrom: checkpoint,
      }),
      (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_OPTIMIZER_STATE',
      'a checkpoint of another shape is refused',
    );
    assert.equal(manager.get('m').handle, other.handle, 'the existing adapter is still in place');
    assert.deepEqual(
      other.handle.trainableVariables.map((v) => Array.from(v.dataSync())),
      before,
      'and unchanged',
    );
    manager.delete('m');
    manager.create('m', 'prompt-tuning', { num_virtual_tokens: 3 }, { seed: 1 });
    await assert.rejects(
      train({
        tf,
        model,
        manager,
        adapter: 'm',
        trainData,
        padId: 0,
        options,
        outDir: join(dir, 'run'),
        resumeFrom: checkpoint,
      }),
      (e: unknown) => (e as { code?: string }).code === 'PEFTKIT_E_CHECKPOINT',
      'a checkpoint of another method is refused',
    );
    assert.equal(manager.get('m').plugin.meta.name, 'prompt-tuning', 'the prompt-tuning adapter is still there');
    manager.dispose();
    model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
