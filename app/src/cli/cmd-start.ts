import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeftkitError } from '@peftkit/io';
import { createKernel } from '../compose.ts';
import { loadModel } from '@peftkit/models';
import { FULL_SIZE, outcomeTable, QUICK_SIZE, runJobs } from '../pipeline/main-job.ts';
import { startMainJobServer } from '../pipeline/serve.ts';
import { numberOption, parseCommand } from './args.ts';
import type { Command } from './commands.ts';
import { loadPlugins } from './discover.ts';
import { baseModelName } from './train-setup.ts';

const APP_DIR: string = fileURLToPath(new URL('../../', import.meta.url));
/** The embedded default model, produced by `npm run pretrain` (app/src/pipeline/pretrain.ts). */
export const DEFAULT_MODEL_DIR: string = join(APP_DIR, 'assets', 'peftkit-moby');

const usage =
  'Usage: peftkit start [--model <dir>] [--out <dir>] [--quick] [--no-serve] [--port N] ' +
  `[--backend wasm|cpu|tensorflow]

The main job (what 'npm start' runs), end to end on real data with nothing downloaded:
  1. loads the embedded default model (app/assets/peftkit-moby: a small Llama pretrained on Moby-Dick by
     'npm run pretrain') or any supported Hugging Face directory given with --model;
  2. fine-tunes two adapters with two methods on two real tasks, with progress bars:
       sotu-style   bottleneck (Pfeiffer)  State of the Union addresses, metric: held-out loss
       spam-filter  LoRA                   SpamAssassin e-mails → " spam" / " ham", metric: held-out accuracy
  3. prints the before/after table and writes an HTML report with the loss curves (--out, default
     .peftkit-cache/main-job);
  4. serves the model with both adapters (OpenAI / vLLM / LoRAX routes) and prints curl commands to try;
     Ctrl-C stops it. --no-serve ends after the report; --quick trains a few steps only (a smoke test of the
     whole pipeline: the before/after comparison is shown but not judged).

Exit codes: 0 done (with --no-serve: every adapter beat the base on its held-out metric, or --quick);
1 failure; 2 usage error; 3 (--no-serve without --quick) at least one adapter did not beat the base.`;

/** Exit code of a finished main job whose adapters did not all beat the base (documented in the usage). */
export const EXIT_NOT_BETTER = 3;

export const startCommand: Command = {
  name: 'start',
  summary: "the main job ('npm start'): fine-tune two adapters, report, serve",
  usage,
  async run(argv, io) {
    const { values } = parseCommand(
      argv,
      {
        model: { type: 'string' },
        out: { type: 'string' },
        quick: { type: 'boolean' },
        'no-serve': { type: 'boolean' },
        port: { type: 'string' },
        backend: { type: 'string' },
      },
      'start',
    );
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const port = numberOption(
      values,
      'port',
      'start',
      8787,
      (n) => Number.isInteger(n) && n >= 0 && n < 65536,
      'a port number (0 picks a free one)',
    );
    const modelDir = resolve((values.model as string | undefined) ?? DEFAULT_MODEL_DIR);
    if (!existsSync(join(modelDir, 'config.json'))) {
      throw new PeftkitError(
        'PEFTKIT_E_MODEL_NOT_FOUND',
        values.model === undefined
          ? `the embedded default model is missing at ${modelDir} (run 'npm run pretrain' to rebuild it)`
          : `'${modelDir}' is not a Hugging Face model directory (no config.json)`,
        { dir: modelDir },
      );
    }
    const outDir = resolve((values.out as string | undefined) ?? join('.peftkit-cache', 'main-job'));
    const started = performance.now();
    const kernel = await createKernel({
      ...(values.backend ? { backend: values.backend as string } : {}),
      logger: { warn: io.err, info() {} },
    });
    const { loaded: plugins } = await loadPlugins(kernel);
    io.out(
      `peftkit main job — backend '${kernel.backend}', method plugins: ` +
        `${plugins.map((p) => `${p.meta.name}@${p.meta.version}`).join(', ')}`,
    );
    const model = await loadModel(kernel.tf, modelDir);
    if (model.tokenizer === null || model.model.task !== 'causal-lm') {
      model.model.dispose();
      throw new PeftkitError(
        'PEFTKIT_E_MODEL_TASK',
        `'${modelDir}' needs a tokenizer and a causal-LM head for the main job`,
        { dir: modelDir },
      );
    }
    const parameters = [...model.model.parameters().values()].reduce((n, v) => n + v.size, 0);
    io.out(
      `model: ${modelDir} (${model.model.arch}, ${(parameters / 1e6).toFixed(2)} M parameters, ` +
        `vocabulary ${model.model.dims.vocabSize})`,
    );
    // saved adapters name their base (base_model_name_or_path), as `peftkit train` does
    const manager = kernel.adapters(model.model, {
      tokenizer: model.tokenizer,
      baseModel: baseModelName(modelDir, model.config),
    });
    let outcomes: Awaited<ReturnType<typeof runJobs>>;
    try {
      outcomes = await runJobs(kernel, model, manager, {
        outDir,
        size: values.quick ? QUICK_SIZE : FULL_SIZE,
        progress: { write: (text: string) => io.out(text, false), isTTY: globalThis.process?.stdout?.isTTY === true },
        log: (line) => io.out(line),
      });
    } finally {
      manager.dispose();
      model.model.dispose();
    }
    const judged = values.quick !== true;
    io.out(`\n${outcomeTable(outcomes, { judged })}\n`);
    io.out(`report: ${join(outDir, 'comparison.html')}   adapters: ${join(outDir, 'adapters')}`);
    io.out(`main job finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    if (!judged)
      io.out(
        'smoke test (--quick): a few training steps only, so the comparison is not judged; run without --quick for it',
      );
    const worse = outcomes.filter((o) => !o.improved).map((o) => o.name);
    if (values['no-serve'] && judged && worse.length > 0) {
      io.err(
        `exit ${EXIT_NOT_BETTER}: the adapter(s) ${worse.join(', ')} did not beat the base model on their ` +
          'held-out metric (see the table)',
      );
      return EXIT_NOT_BETTER;
    }
    if (values['no-serve']) return 0;
    const server = await startMainJobServer({
      modelDir,
      adaptersDir: join(outDir, 'adapters'),
      adapters: outcomes.map((o) => o.name),
      port,
    });
    io.out(`\nserving on ${server.url} with adapters ${outcomes.map((o) => o.name).join(', ')} — try:\n`);
    for (const command of server.examples) io.out(`  ${command}\n`);
    io.out('Ctrl-C stops the server.');
    await server.closed;
    return 0;
  },
};
