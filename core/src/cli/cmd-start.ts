import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertLlama2cFiles } from '../convert/llama2c-files.ts';
import { type CausalLanguageModel, generate } from '../generate/generate.ts';
import { createKernel } from '../kernel.ts';
import { loadModel } from '../model/load.ts';
import { parseCommand } from './args.ts';
import type { Command } from './commands.ts';
import { loadPlugins } from './discover.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const STORIES = join(REPO, '..', 'shared', 'models', 'stories260K');

const usage = `Usage: peftkit start [--model <dir>] [--backend wasm|cpu|tensorflow]

The main job (what 'npm start' runs). PARTIAL: this release runs the stages built so far —
  1. boot the kernel (tensor backend, installed method plugins),
  2. take a model: --model <Hugging Face dir>, or convert the real pretrained stories260K checkpoint
     from ../shared/models/stories260K into .peftkit-cache/stories260K,
  3. generate from it (greedy, KV cache) and print the text and speed.
Fine-tuning two adapters, the before/after table, the report and the server join this command as
the training (#4), method (#5, #6), server (#7) and main-job (#8) issues land.`;

export const startCommand: Command = {
  name: 'start',
  summary: "the main job ('npm start'); partial: boot, model, generation",
  usage,
  async run(argv, io) {
    const { values } = parseCommand(argv, { model: { type: 'string' }, backend: { type: 'string' } }, 'start');
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const kernel = await createKernel({ ...(values.backend ? { backend: values.backend as string } : {}), logger: { warn: io.err, info() {} } });
    const { loaded } = await loadPlugins(kernel);
    io.out(
      `peftkit: tensor backend '${kernel.backend}'; method plugins: ${loaded.map((p) => `${p.meta.name}@${p.meta.version}`).join(', ') || '(none installed)'}`,
    );
    let dir = values.model as string | undefined;
    if (dir === undefined) {
      dir = join(REPO, '.peftkit-cache', 'stories260K');
      if (!existsSync(join(dir, 'config.json'))) {
        if (!existsSync(join(STORIES, 'stories260K.bin'))) {
          io.err(`no --model given and ${STORIES} is absent; pass --model <Hugging Face directory>`);
          return 1;
        }
        await convertLlama2cFiles(join(STORIES, 'stories260K.bin'), join(STORIES, 'tok512.bin'), dir, { overwrite: true });
        io.out(`converted the llama2.c stories260K checkpoint to a Hugging Face directory: ${dir}`);
      }
    }
    const { model, tokenizer } = await loadModel(kernel.tf, dir);
    if (tokenizer === null || model.task !== 'causal-lm') {
      io.err(`'${dir}' needs a tokenizer and a causal-LM head for this stage`);
      return 1;
    }
    const started = performance.now();
    const [result] = generate(model as unknown as CausalLanguageModel, tokenizer, [{ prompt: '' }], { maxTokens: 80, temperature: 0 });
    const seconds = (performance.now() - started) / 1000;
    io.out(`\ngreedy generation from BOS (${result?.ids.length} tokens, ${((result?.ids.length ?? 0) / seconds).toFixed(0)} tokens/s):\n`);
    io.out(`  ${result?.text.trim()}\n`);
    io.out('Pending stages of the main job: fine-tuning adapters and the before/after table (#4, #5, #6, #8), serving (#7).');
    model.dispose();
    return 0;
  },
};
