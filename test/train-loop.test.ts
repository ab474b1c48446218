import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError, Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { createTinyLlama, maxParameterDiff, snapshotParameters } from '@peftkit/testing';
import {
  BatchStream,
  batchLossSum,
  IGNORE_INDEX,
  type Optimizer,
  Sgd,
  type StepEvent,
  type TrainExample,
  train,
} from '@peftkit/core/train';
import { collate } from '@peftkit/data';
import lora from '@peftkit/lora';

// The loop on the tiny Llama with LoRA: frozen base, flat memory, accumulation = big batch, label masking,
// early stopping, classification. Expected values come from separate forwards computed in the tests.

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
kernel.use(lora);
const tf = kernel.tf;

/** Variable-length examples (4..9 tokens) of a learnable pattern: each token is the previous + 3 (mod 60). */
function examples(count: number, seed: number): TrainExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const len = 4 + rng.int(6);
    const first = 1 + rng.int(59);
    return { ids: Array.from({ length: len }, (_, i) => 1 + ((first + 3 * i) % 60)) };
  });
}

function setup(
  config: Record<string, unknown> = { target_modules: ['q_proj', 'v_proj'], r: 4 },
  task: 'causal-lm' | 'seq-cls' = 'causal-lm',
) {
  const model = createTinyLlama(tf, { seed: 4, task, labels: ['a', 'b'] });
  const manager = kernel.adapters(model);
  manager.create('t', 'lora', config, { seed: 3 });
  return { model, manager };
}

test('trains only the adapter: base bit-identical, loss falls, tf.memory().numTensors flat from step 2', async () => {
  const { model, manager } = setup();
  const before = snapshotParameters(model);
  const counts: number[] = [];
  const result = await train({
    tf,
    model,
    manager,
    adapter: 't',
    trainData: examples(16, 1),
    padId: 0,
    options: { steps: 8, batchSize: 4, lr: 2e-2, schedule: 'constant', weightDecay: 0.01 },
    callbacks: { onStep: () => void counts.push(tf.memory().numTensors) },
  });
  assert.equal(result.step, 8, 'ran every step');
  assert.equal(maxParameterDiff(model, before), 0, 'frozen base');
  const losses = result.history.map((e) => e.loss);
  assert.ok((losses.at(-1) as number) < (losses[0] as number) - 0.05, `loss falls: ${losses}`);
  assert.ok(
    counts.slice(1).every((c) => c === counts[1]),
    `numTensors constant from step 2: ${counts}`,
  );
  manager.dispose();
  model.dispose();
});

test('gradient accumulation of 2 micro-batches equals one batch of both (token-weighted mean)', async () => {
  const data = examples(4, 2);
  const run = async (batchSize: number, gradAccum: number) => {
    const { model, manager } = setup();
    const result = await train({
      tf,
      model,
      manager,
      adapter: 't',
      trainData: data,
      padId: 0,
      options: {
        steps: 2,
        batchSize,
        gradAccum,
        lr: 0.5,
        optimizer: 'sgd',
        shuffle: false,
        maxGradNorm: 0,
        schedule: 'constant',
      },
    });
    const weights = manager.trainableVariables('t').map((v) => Array.from(v.dataSync()));
    manager.dispose();
    model.dispose();
    return { losses: result.history.map((e) => e.loss), weights };
  };
  const big = await run(4, 1);
  const accumulated = await run(2, 2);
  for (const [i, loss] of big.losses.entries()) {
    assert.ok(
      Math.abs(loss - (accumulated.losses[i] as number)) < 1e-5,
      `step ${i + 1} loss ${loss} vs ${accumulated.losses[i]}`,
    );
  }
  let worst = 0;
  for (const [i, w] of big.weights.entries())
    for (const [j, x] of w.entries()) worst = Math.max(worst, Math.abs(x - (accumulated.weights[i]?.[j] ?? 0)));
  assert.ok(worst < 1e-5, `weights differ by ${worst}`);
});

test('label masking: only positions with a label count, shifted by one (transformers causal LM loss)', () => {
  const { model, manager } = setup();
  const ids = [5, 9, 14, 20, 3];
  // prompt tokens 0..2 masked: the loss predicts ids[3] from position 2 and ids[4] from position 3
  const batch = collate([{ ids, labels: [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 20, 3] }, { ids: [7, 8] }], {
    padId: 0,
  });
  assert.equal(batch.lossTokens, 3, 'two completion tokens + one token of the short row');
  const { sum } = batchLossSum(tf, model, batch, { selection: { active: ['t'] } });
  const expected = tf.tidy(() => {
    const logp = tf.logSoftmax(model.forward({ ids: [ids] }, { selection: { active: ['t'] } }));
    const short = tf.logSoftmax(model.forward({ ids: [[7, 8]] }, { selection: { active: ['t'] } }));
    const at = (t: ReturnType<typeof tf.logSoftmax>, pos: number, id: number) =>
      (t.arraySync() as number[][][])[0]?.[pos]?.[id] as number;
    return -(at(logp, 2, 20) + at(logp, 3, 3) + at(short, 0, 8));
  });
  const got = sum.dataSync()[0] as number;
  assert.ok(Math.abs(got - expected) < 1e-4, `loss sum ${got} vs ${expected}`);
  sum.dispose();
  manager.dispose();
  model.dispose();
});

test('evaluation and early stopping: patience counts evaluations without an improvement above minDelta', async () => {
  const { model, manager } = setup();
  const evalLosses: number[] = [];
  const result = await train({
    tf,
    model,
    manager,
    adapter: 't',
    trainData: examples(8, 3),
    evalData: examples(4, 4),
    padId: 0,
    options: { steps: 10, batchSize: 4, lr: 1e-2, evalEvery: 1, earlyStopping: { patience: 2, minDelta: 1e9 } },
    callbacks: { onEval: (e) => void evalLosses.push(e.loss) },
  });
  assert.equal(result.stoppedEarly, true, 'stopped early');
  assert.equal(result.step, 3, 'first eval sets the best, two more without improvement stop');
  assert.equal(evalLosses.length, 3, 'one eval per step');
  const e = result.evals[0];
  assert.ok(e && Math.abs(e.perplexity - Math.exp(e.loss)) < 1e-9 * e.perplexity, 'perplexity = exp(loss)');
  manager.dispose();
  model.dispose();
});

test('sequence classification: classify loss falls, eval reports accuracy', async () => {
  const { model, manager } = setup({ target_modules: ['q_proj', 'v_proj'], r: 4, task_type: 'SEQ_CLS' }, 'seq-cls');
  const rng = new Rng(7);
  // label = whether the sequence starts with a small token id
  const data: TrainExample[] = Array.from({ length: 16 }, () => {
    const first = 1 + rng.int(60);
    return { ids: [first, 1 + rng.int(60), 1 + rng.int(60)], label: first < 30 ? 0 : 1 };
  });
  const steps: StepEvent[] = [];
  const result = await train({
    tf,
    model,
    manager,
    adapter: 't',
    trainData: data,
    evalData: data.slice(0, 8),
    padId: 0,
    options: { steps: 12, batchSize: 8, lr: 3e-2, schedule: 'constant' },
    callbacks: { onStep: (e) => void steps.push(e) },
  });
  const last = result.evals.at(-1);
  // accuracy recomputed independently: argmax of classify over the eval rows (same length, no padding)
  const logits = model.classify({ ids: data.slice(0, 8).map((e) => [...e.ids]) }, { selection: { active: ['t'] } });
  const predicted = (logits.arraySync() as number[][]).map((row) => row.indexOf(Math.max(...row)));
  logits.dispose();
  const expected = predicted.filter((p, i) => p === data[i]?.label).length / 8;
  assert.equal(last?.accuracy, expected, `eval accuracy ${last?.accuracy} vs argmax count ${expected}`);
  assert.ok((steps.at(-1)?.loss as number) < (steps[0]?.loss as number), `loss falls ${steps.map((s) => s.loss)}`);
  manager.dispose();
  model.dispose();
});

test('bad input: empty data, bad padId, unknown adapter, out-of-vocabulary label', async () => {
  const { model, manager } = setup();
  const base = { tf, model, manager, adapter: 't', padId: 0, options: { steps: 1 } };
  await assert.rejects(train({ ...base, trainData: [] }), (e) => isPeftkitError(e, 'PEFTKIT_E_DATA'), 'empty data');
  await assert.rejects(
    train({ ...base, trainData: examples(2, 1), padId: 999 }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_TRAIN_OPTIONS'),
    'bad padId',
  );
  await assert.rejects(
    train({ ...base, trainData: examples(2, 1), adapter: 'nope' }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_ADAPTER_UNKNOWN'),
    'unknown adapter',
  );
  await assert.rejects(
    train({ ...base, trainData: [{ ids: [1, 2, 3], labels: [1, 2, 500] }] }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_DATA'),
    'label outside the vocabulary',
  );
  await assert.rejects(
    train({ ...base, trainData: examples(2, 1), options: { saveEvery: 1 } }),
    (e) => isPeftkitError(e, 'PEFTKIT_E_TRAIN_OPTIONS'),
    'saveEvery without outDir',
  );
  manager.dispose();
  model.dispose();
});

test(
  'batch order: every epoch is a permutation, and a stream restarted at a saved position continues ' + 'identically',
  () => {
    const stream = new BatchStream(10, 4, 7, true);
    const seen: number[][] = [];
    const positions = [];
    for (let i = 0; i < 9; i++) {
      positions.push(stream.position);
      seen.push(stream.next());
    }
    // 10 examples in batches of 4: 4, 4, 2 per epoch
    assert.deepEqual(
      seen.map((b) => b.length),
      [4, 4, 2, 4, 4, 2, 4, 4, 2],
      'the last micro-batch of an epoch is smaller',
    );
    for (let e = 0; e < 3; e++) {
      const epoch = seen.slice(3 * e, 3 * e + 3).flat();
      assert.deepEqual(
        [...epoch].sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        `epoch ${e} visits every example once`,
      );
    }
    assert.notDeepEqual(seen.slice(0, 3).flat(), seen.slice(3, 6).flat(), 'epochs are reshuffled');
    const restarted = new BatchStream(10, 4, 7, true, positions[4]);
    assert.deepEqual(
      [restarted.next(), restarted.next()],
      [seen[4], seen[5]],
      'same continuation from a saved position',
    );
    const plain = new BatchStream(5, 5, 7, false);
    assert.deepEqual(plain.next(), [0, 1, 2, 3, 4], 'shuffle off keeps file order');
  },
);

test(
  'an optimizer factory (how plugins bring their own, ' + 'e.g. a paged AdamW) is used and disposed by the loop',
  async () => {
    const run = async (optimizer: 'sgd' | ((t: typeof tf, s: ConstructorParameters<typeof Sgd>[1]) => Optimizer)) => {
      const { model, manager } = setup();
      const result = await train({
        tf,
        model,
        manager,
        adapter: 't',
        trainData: examples(6, 5),
        padId: 0,
        options: { steps: 3, batchSize: 3, lr: 0.1, optimizer },
      });
      manager.dispose();
      model.dispose();
      return result.history.map((e) => e.loss);
    };
    let made = 0;
    let disposed = 0;
    const factory = (t: typeof tf, settings: ConstructorParameters<typeof Sgd>[1]): Optimizer => {
      made++;
      const inner = new Sgd(t, settings);
      return {
        kind: inner.kind,
        apply: (variables, grads, lr) => inner.apply(variables, grads, lr),
        state: () => inner.state(),
        loadState: (state) => inner.loadState(state),
        get backendBytes() {
          return inner.backendBytes;
        },
        dispose: () => {
          disposed++;
          inner.dispose();
        },
      };
    };
    assert.deepEqual(await run(factory), await run('sgd'), 'same losses as the built-in SGD');
    assert.equal(made, 1, 'the factory is called once');
    assert.equal(disposed, 1, 'the loop disposes the optimizer');
  },
);
