import { PeftkitError } from '@peftkit/io';
import { streamGenerate, type CausalLanguageModel } from '@peftkit/models';
import { createKernel } from '../compose.ts';
import { numberOption, parseCommand, requireString } from './args.ts';
import type { Command } from './commands.ts';
import { loadPlugins } from './discover.ts';
import { loadAdapterFromDir } from './adapter-load.ts';
import { loadModelDir } from './bnb-load.ts';

const usage = `Usage: peftkit generate --model <dir> [--adapter <dir>] [--prompt <text>] [--max-tokens N]
                        [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S]
                        [--stop <text>]... [--backend wasm|cpu|tensorflow] [--plugin <specifier>]...

Generates from a Hugging Face model directory, optionally with a saved adapter, and prints only the
generated text to stdout (streamed). --temperature 0 is greedy decoding. Defaults: max-tokens 64, temperature 1.`;

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate text with a model and optional adapter',
  usage,
  async run(argv, io) {
    const { values } = parseCommand(
      argv,
      {
        model: { type: 'string' },
        adapter: { type: 'string' },
        prompt: { type: 'string' },
        'max-tokens': { type: 'string' },
        temperature: { type: 'string' },
        'top-k': { type: 'string' },
        'top-p': { type: 'string' },
        'repetition-penalty': { type: 'string' },
        seed: { type: 'string' },
        stop: { type: 'string', multiple: true },
        backend: { type: 'string' },
        plugin: { type: 'string', multiple: true },
      },
      'generate',
    );
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const c = 'generate';
    const modelDir = requireString(values, 'model', c);
    const options = {
      maxTokens: numberOption(values, 'max-tokens', c, 64, (n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0'),
      temperature: numberOption(values, 'temperature', c, 1, (n) => n >= 0, 'a number ≥ 0'),
      topK: numberOption(values, 'top-k', c, 0, (n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0'),
      topP: numberOption(values, 'top-p', c, 1, (n) => n > 0 && n <= 1, 'a number in (0, 1]'),
      repetitionPenalty: numberOption(values, 'repetition-penalty', c, 1, (n) => n > 0, 'a number > 0'),
      seed: numberOption(values, 'seed', c, 0, (n) => Number.isInteger(n), 'an integer'),
      stop: (values.stop as string[] | undefined) ?? [],
    };
    const kernel = await createKernel({
      ...(values.backend ? { backend: values.backend as string } : {}),
      logger: { warn: io.err, info() {} },
    });
    await loadPlugins(kernel, (values.plugin as string[] | undefined) ?? []);
    const { model, tokenizer } = await loadModelDir(kernel.tf, modelDir);
    if (tokenizer === null)
      throw new PeftkitError('PEFTKIT_E_TOKENIZER_NOT_FOUND', `no tokenizer in '${modelDir}'`, { dir: modelDir });
    if (typeof (model as Partial<CausalLanguageModel>).forward !== 'function' || model.task !== 'causal-lm') {
      throw new PeftkitError('PEFTKIT_E_MODEL_TASK', `'${modelDir}' is not a causal language model`, { dir: modelDir });
    }
    let adapter: string | null = null;
    if (typeof values.adapter === 'string') {
      await loadAdapterFromDir(kernel, kernel.adapters(model), 'adapter', values.adapter);
      adapter = 'adapter';
    }
    const stream = streamGenerate(
      model as unknown as CausalLanguageModel,
      tokenizer,
      { prompt: (values.prompt as string | undefined) ?? '', adapter },
      options,
    );
    let text = '';
    for await (const event of stream) {
      text += event.text;
      io.out(event.text, false);
    }
    if (!text.endsWith('\n')) io.out('', true);
    model.dispose();
    return 0;
  },
};
