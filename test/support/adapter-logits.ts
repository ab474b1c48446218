// Child-process half of test/lora-fresh-process.test.ts: loads a model directory and a saved adapter in a new
// process and prints the logits of a fixed batch as JSON (one array per row, float32 values as numbers).
import { disposeSaved, readAdapterDir } from '../../core/src/adapter/files.ts';
import { loadPlugins } from '../../app/src/cli/discover.ts';
import { createKernel } from 'peftkit';
import { loadModel } from '../../packages/models/src/model/load.ts';

const [modelDir, adapterDir, idsJson] = process.argv.slice(2) as [string, string, string];
const kernel = await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } });
await loadPlugins(kernel);
const { model } = await loadModel(kernel.tf, modelDir);
const saved = await readAdapterDir(kernel.tf, adapterDir);
kernel.adapters(model).load('reloaded', saved);
disposeSaved(saved);
const ids = JSON.parse(idsJson) as number[][];
const logits = kernel.tf.tidy(() => model.forward?.({ ids }, { selection: { active: ['reloaded'] } }));
process.stdout.write(`${JSON.stringify(Array.from((logits?.dataSync() ?? []) as Float32Array))}\n`);
