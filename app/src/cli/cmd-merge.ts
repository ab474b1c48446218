import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PeftkitError } from '@peftkit/io';
import { createKernel } from '../compose.ts';
import { saveModel } from '@peftkit/models';
import { parseCommand, requireString } from './args.ts';
import type { Command } from './commands.ts';
import { loadPlugins } from './discover.ts';
import { loadAdapterFromDir } from './adapter-load.ts';
import { loadModelDir } from './bnb-load.ts';

const usage = `Usage: peftkit merge --model <dir> --adapter <dir> [--adapter <dir>]... --out <dir> [--overwrite]
                     [--backend wasm|cpu|tensorflow] [--plugin <specifier>]...

Merge-and-unload: folds one or more saved adapters into the base weights and writes a plain Hugging Face model
directory (config.json, model.safetensors, tokenizer and generation files copied) that loads without peftkit's
plugins. Merging is checked (non-finite results are refused before any weight changes). Methods that cannot be
merged (bottleneck adapters, prompt methods) are refused with PEFTKIT_E_MERGE_UNSUPPORTED.`;

/** Files besides weights and config.json that make a model directory usable (tokenizer, chat template, …). */
const COPIED: ReadonlySet<string> = new Set([
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'vocab.txt',
  'tokenizer.model',
  'generation_config.json',
  'chat_template.jinja',
]);

async function isNonEmptyDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory() && (await readdir(path)).length > 0;
  } catch {
    return false;
  }
}

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'merge adapters into the base weights and write a plain model directory',
  usage,
  async run(argv, io) {
    const { values } = parseCommand(
      argv,
      {
        model: { type: 'string' },
        adapter: { type: 'string', multiple: true },
        out: { type: 'string' },
        overwrite: { type: 'boolean' },
        backend: { type: 'string' },
        plugin: { type: 'string', multiple: true },
      },
      'merge',
    );
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const modelDir = requireString(values, 'model', 'merge');
    const out = requireString(values, 'out', 'merge');
    const adapters = (values.adapter as string[] | undefined) ?? [];
    if (adapters.length === 0)
      throw new PeftkitError('PEFTKIT_E_USAGE', `merge: --adapter is required (see 'peftkit merge --help')`, {
        command: 'merge',
      });
    if (resolve(out) === resolve(modelDir))
      throw new PeftkitError('PEFTKIT_E_USAGE', 'merge: --out must differ from --model', { command: 'merge' });
    if (!values.overwrite && (await isNonEmptyDir(out))) {
      throw new PeftkitError(
        'PEFTKIT_E_OUTPUT_EXISTS',
        `'${out}' exists and is not empty (pass --overwrite to replace its files)`,
        { out },
      );
    }
    const kernel = await createKernel({
      ...(values.backend ? { backend: values.backend as string } : {}),
      logger: { warn: io.err, info() {} },
    });
    await loadPlugins(kernel, (values.plugin as string[] | undefined) ?? []);
    const loaded = await loadModelDir(kernel.tf, modelDir);
    const manager = kernel.adapters(loaded.model);
    try {
      for (const [i, dir] of adapters.entries()) {
        await loadAdapterFromDir(kernel, manager, `merge-${i}`, dir);
        manager.merge(`merge-${i}`, { safe: true });
        const record = manager.get(`merge-${i}`);
        io.err(`merged ${dir} (${record.plugin.meta.name} ${record.plugin.meta.version})`);
      }
      const files: Record<string, Uint8Array> = {};
      for (const name of await readdir(modelDir)) {
        if (COPIED.has(name) && name !== 'generation_config.json')
          files[name] = new Uint8Array(await readFile(join(modelDir, name)));
      }
      // a bnb 4-bit base was dequantized on load: the merged model is float, so its config drops quantization_config
      const { quantization_config: _quantized, ...config } = loaded.config;
      const written = await saveModel(loaded.model, out, {
        config,
        tokenizerFiles: files,
        generationConfig: loaded.generationConfig,
      });
      io.out(`wrote ${out}: ${written.files.join(', ')}`);
    } finally {
      // the merged weights are already on disk; free everything (delete unmerges, which is fine now)
      manager.dispose();
      loaded.model.dispose();
      await kernel.dispose();
    }
    return 0;
  },
};
