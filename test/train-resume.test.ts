import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isPeftkitError, Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { createTinyLlama } from '@peftkit/testing';
import { latestCheckpoint, type TrainExample, train } from '@peftkit/core/train';
import lora from '@peftkit/lora';

// Checkpoints and exact resume: 20 steps uninterrupted vs 10 steps, stop, fresh objects, resume to 20 — with
// LoRA dropout, per-epoch shuffling, gradient accumulation, warmup + cosine schedule and weight decay all on.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(lora);
const tf = kernel.tf;

function examples(count: number, seed: number): TrainExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const len = 3 + rng.int(7);
    const first = 1 + rng.int(59);
    return { ids: Array.from({ length: len }, (_, i) => 1 + ((first + 5 * i) % 60)) };
  });
}

const trainData = examples(10, 11);
const evalData = examples(4, 12);
const config = { target_modules: ['q_proj', 'v_proj', 'down_proj'], r: 4, lora_dropout: 0.2 };
const options = {
  steps: 20,
  batchSize: 3,
  gradAccum: 2,
  lr: 1e-2,
  schedule: 'cosine' as const,
  warmupSteps: 3,
  weightDecay: 0.01,
  maxGradNorm: 0.5,
  evalEvery: 5,
  saveEvery: 5,
  seed: 5,
};

/** A process-equivalent start: a fresh model, manager and adapter (same seeds). */
function fresh(createAdapter: boolean) {
  const model = createTinyLlama(tf, { seed: 9 });
  const manager = kernel.adapters(model);
  if (createAdapter) manager.create('t', 'lora', config, { seed: 1 });
  return { model, manager };
}

test('resume continues bit-exactly: same loss at every step and identical final weights', async () => {
  const dirA = await mkdtemp(join(tmpdir(), 'peftkit-train-a-'));
  const dirB = await mkdtemp(join(tmpdir(), 'peftkit-train-b-'));
  try {
    const a = fresh(true);
    const full = await train({
      tf,
      model: a.model,
      manager: a.manager,
      adapter: 't',
      trainData,
      evalData,
      padId: 0,
      options,
      outDir: dirA,
    });
    const wantWeights = a.manager.trainableVariables('t').map((v) => Array.from(v.dataSync()));
    a.manager.dispose();
    a.model.dispose();

    const b = fresh(true);
    const stop = new AbortController();
    const first = await train({
      tf,
      model: b.model,
      manager: b.manager,
      adapter: 't',
      trainData,
      evalData,
      padId: 0,
      options,
      outDir: dirB,
      signal: stop.signal,
      callbacks: { onSave: (e) => (e.step === 10 ? stop.abort() : undefined) },
    });
    assert.equal(first.step, 10, 'stopped after step 10');
    assert.equal(first.aborted, true, 'reported as aborted');
    b.manager.dispose();
    b.model.dispose();

    const checkpoint = await latestCheckpoint(dirB);
    assert.equal(checkpoint, join(dirB, 'checkpoint-10'), 'latest complete checkpoint');
    const c = fresh(false);
    const before = tf.memory().numTensors;
    const resumed = await train({
      tf,
      model: c.model,
      manager: c.manager,
      adapter: 't',
      trainData,
      evalData,
      padId: 0,
      options,
      outDir: dirB,
      resumeFrom: checkpoint as string,
    });
    assert.equal(resumed.step, 20, 'resumed run finished');
    assert.deepEqual(
      resumed.history.map((e) => e.step),
      [11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
      'resumed at step 11',
    );
    const losses = [...first.history, ...resumed.history].map((e) => e.loss);
    assert.equal(losses.length, 20, 'twenty losses');
    for (const [i, loss] of full.history.entries()) {
      assert.ok(Math.abs(loss.loss - (losses[i] as number)) <= 1e-6, `step ${i + 1}: ${loss.loss} vs ${losses[i]}`);
      assert.equal(loss.lr, [...first.history, ...resumed.history][i]?.lr, `step ${i + 1}: same learning rate`);
    }
    const gotWeights = c.manager.trainableVariables('t').map((v) => Array.from(v.dataSync()));
    assert.deepEqual(gotWeights, wantWeights, 'identical final weights');
    assert.deepEqual(
      resumed.evals.map((e) => e.loss),
      full.evals.filter((e) => e.step > 10).map((e) => e.loss),
      'identical eval losses after the resume',
    );
    c.manager.delete('t');
    assert.ok(tf.memory().numTensors <= before, 'nothing leaked by the resumed run');
    c.model.dispose();
    const names = await readdir(join(dirB, 'checkpoint-10'));
    for (const file of [
      'adapter_config.json',
      'adapter_model.safetensors',
      'optimizer.safetensors',
      'trainer_state.json',
    ]) {
      assert.ok(names.includes(file), `checkpoint holds ${file}`);
    }
    assert.ok(
      (await readdir(dirB)).includes('adapter_model.safetensors'),
      'final adapter written to the output directory',
    );
  } finally {
    await rm(dirA, { recursive: true, force: true });
    await rm(dirB, { recursive: true, force: true });
  }
});

test('a torn checkpoint (killed mid-write) is never picked; a corrupt one is a coded error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-train-c-'));
  try {
    const a = fresh(true);
    await train({
      tf,
      model: a.model,
      manager: a.manager,
      adapter: 't',
      trainData,
      padId: 0,
      options: { ...options, steps: 4, saveEvery: 2, evalEvery: 0 },
      outDir: dir,
    });
    // what a kill during the next save leaves: a temp dir, or a checkpoint dir without its state file
    await mkdir(join(dir, '.checkpoint-6.1234.tmp'));
    await mkdir(join(dir, 'checkpoint-8'));
    assert.equal(await latestCheckpoint(dir), join(dir, 'checkpoint-4'), 'the last complete checkpoint');
    await writeFile(join(dir, 'checkpoint-4', 'trainer_state.json'), '{"format":"peftkit-trainer-state","version":1}');
    await assert.rejects(
      train({
        tf,
        model: a.model,
        manager: a.manager,
        adapter: 't',
        trainData,
        padId: 0,
        options: { ...options, steps: 4, saveEvery: 0 },
        resumeFrom: join(dir, 'checkpoint-4'),
      }),
      (e) => isPeftkitError(e, 'PEFTKIT_E_CHECKPOINT'),
      'invalid trainer state',
    );
    assert.ok(a.manager.has('t'), 'a refused resume leaves the adapter in place');
    await assert.rejects(
      train({
        tf,
        model: a.model,
        manager: a.manager,
        adapter: 't',
        trainData,
        padId: 0,
        options: { ...options, steps: 7, saveEvery: 0 },
        resumeFrom: join(dir, 'checkpoint-2'),
      }),
      (e) => isPeftkitError(e, 'PEFTKIT_E_CHECKPOINT'),
      'a checkpoint for another step count',
    );
    a.manager.dispose();
    a.model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
