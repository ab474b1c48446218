// `npm run pretrain`: trains the embedded default model (tokenizer + small Llama on Moby-Dick) into
// app/assets/peftkit-moby. Options: --steps N --out DIR --backend NAME. Reproducible for a given backend.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createKernel } from 'peftkit';
import { loadPlugins } from '../app/src/cli/discover.ts';
import { DEFAULT_PRETRAIN, pretrainDefaultModel } from '../app/src/pipeline/pretrain.ts';
import { ProgressBar } from '../app/src/report/progress.ts';

const { values } = parseArgs({
  options: { steps: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string' } },
});
const out = values.out ?? fileURLToPath(new URL('../app/assets/peftkit-moby/', import.meta.url));
const kernel = await createKernel({
  ...(values.backend ? { backend: values.backend } : {}),
  logger: { warn: (m) => console.warn(m), info() {} },
});
await loadPlugins(kernel);
const steps = values.steps ? Number(values.steps) : DEFAULT_PRETRAIN.steps;
console.log(`pretraining on '${kernel.backend}' for ${steps} steps → ${out}`);
const progress = new ProgressBar(process.stdout, { every: 25 });
const result = await pretrainDefaultModel(kernel, { outDir: out, steps, callbacks: progress });
console.log(
  `\n${(result.parameters / 1e6).toFixed(2)} M parameters, ${result.trainTokens} training tokens, ` +
    `held-out loss ${result.evalLossBefore.toFixed(3)} → ${result.evalLossAfter.toFixed(3)} in ` +
    `${result.seconds.toFixed(0)} s`,
);
console.log(`wrote ${result.files.join(', ')}`);
