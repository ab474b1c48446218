import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createKernel } from 'peftkit';
import { DEFAULT_MODEL_DIR } from '../app/src/cli/cmd-start.ts';
import { loadPlugins } from '../app/src/cli/discover.ts';
import { main } from '../app/src/cli/main.ts';
import { loadModel } from '../packages/models/src/model/load.ts';
import { outcomeTable, QUICK_SIZE, runJobs } from '../app/src/pipeline/main-job.ts';
import { startMainJobServer } from '../app/src/pipeline/serve.ts';

// The main job on the embedded default model at smoke-test size: two adapters of two methods trained on the real
// tasks, the report written, then the server started with both and queried the way the printed curl commands do.
// (The full-size run, where both adapters must beat the base, is `npm start -- --no-serve` in CI.)

const out = await mkdtemp(join(tmpdir(), 'peftkit-main-job-'));
after(() => rm(out, { recursive: true, force: true }));

test('the embedded default model is in the repository and small', async () => {
  const config = JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.model_type, 'llama', 'a Llama');
  const { size } = await import('node:fs/promises').then((fs) => fs.stat(join(DEFAULT_MODEL_DIR, 'model.safetensors')));
  assert.ok(size < 10 * 2 ** 20, `≤ 10 MB (${size} bytes)`);
  assert.ok(existsSync(join(DEFAULT_MODEL_DIR, 'tokenizer.json')), 'ships its tokenizer');
});

test('quick main job: trains both adapters, writes the report, serves both', async () => {
  const kernel = await createKernel({ logger: { warn() {}, info() {} } });
  await loadPlugins(kernel);
  const loaded = await loadModel(kernel.tf, DEFAULT_MODEL_DIR);
  const manager = kernel.adapters(loaded.model);
  const lines: string[] = [];
  let progress = '';
  const outcomes = await runJobs(kernel, loaded, manager, {
    outDir: out,
    size: QUICK_SIZE,
    progress: { write: (t) => (progress += t) },
    log: (l) => lines.push(l),
  });
  const before = kernel.tf.memory().numTensors;
  manager.dispose();
  loaded.model.dispose();
  assert.ok(kernel.tf.memory().numTensors < before, 'adapters and model freed');
  assert.deepEqual(
    outcomes.map((o) => [o.name, o.method]),
    [
      ['sotu-style', 'bottleneck'],
      ['spam-filter', 'lora'],
    ],
    'two methods, two tasks',
  );
  for (const o of outcomes) {
    assert.ok(Number.isFinite(o.base) && Number.isFinite(o.adapter), `${o.name}: measured before and after`);
    assert.ok(o.trainable > 0 && o.trainable < o.baseParameters, `${o.name}: parameter-efficient`);
    assert.ok(existsSync(join(o.adapterDir, 'adapter_config.json')), `${o.name}: adapter saved`);
  }
  assert.match(progress, /step 3\/3/, 'progress lines printed');
  assert.match(outcomeTable(outcomes), /sotu-style +bottleneck +held-out loss/, 'table row');
  const html = await readFile(join(out, 'comparison.html'), 'utf8');
  assert.match(html, /<svg/, 'report embeds the loss curves');
  assert.match(html, /spam-filter/, 'report names both runs');

  const server = await startMainJobServer({
    modelDir: DEFAULT_MODEL_DIR,
    adaptersDir: join(out, 'adapters'),
    adapters: ['sotu-style', 'spam-filter'],
    port: 0,
    handleSignals: false,
  });
  try {
    assert.equal(server.examples.length >= 4, true, 'curl examples printed');
    const models = (await (await fetch(`${server.url}/v1/models`)).json()) as {
      data: { id: string; parent: string | null }[];
    };
    assert.deepEqual(
      models.data.map((m) => m.id).sort(),
      ['peftkit-moby', 'sotu-style', 'spam-filter'],
      'base and both adapters listed',
    );
    for (const model of ['spam-filter', 'sotu-style']) {
      const res = await fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, prompt: 'Email: free money\nVerdict:', max_tokens: 2, temperature: 0 }),
      });
      assert.equal(res.status, 200, `${model}: completion answered`);
      const body = (await res.json()) as {
        model: string;
        choices: { text: string }[];
        usage: { completion_tokens: number };
      };
      assert.equal(body.model, model, 'served by the named adapter');
      assert.ok(body.usage.completion_tokens >= 1, `${model}: generated tokens`);
    }
  } finally {
    await server.close();
  }
});

test('start rejects bad arguments with usage errors', async () => {
  let err = '';
  const io = {
    out() {},
    err: (t: string) => {
      err += `${t}\n`;
    },
  };
  assert.equal(await main(['start', '--port', 'eighty'], io), 2, 'bad port');
  assert.match(err, /--port must be a port number/, err);
  assert.equal(await main(['start', '--model', join(out, 'nope'), '--no-serve'], io), 1, 'missing model');
  assert.match(err, /is not a Hugging Face model directory/, err);
  assert.equal(await main(['start', '--bogus'], io), 2, 'unknown flag');
});
