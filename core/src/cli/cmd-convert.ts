import { convertLlama2cFiles } from '../convert/llama2c-files.ts';
import { PeftkitError } from '../errors.ts';
import { parseCommand, requireString } from './args.ts';
import type { Command } from './commands.ts';

const usage = `Usage: peftkit convert llama2c <model.bin> --tokenizer <tok.bin> --out <dir> [--overwrite]

Converts a llama2.c checkpoint (version 0) and its tokenizer into a Hugging Face Llama directory
(config.json, model.safetensors, tokenizer.json, tokenizer_config.json, generation_config.json).
RoPE rows of q/k are permuted from llama2.c's adjacent pairs to Hugging Face's rotate-half layout.`;

export const convertCommand: Command = {
  name: 'convert',
  summary: 'convert checkpoints (llama2c → Hugging Face)',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(argv, { tokenizer: { type: 'string' }, out: { type: 'string' }, overwrite: { type: 'boolean' } }, 'convert');
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const [format, input] = positionals;
    if (format !== 'llama2c') {
      throw new PeftkitError('PEFTKIT_E_USAGE', `convert: unknown format '${format ?? ''}' (supported: llama2c; see 'peftkit convert --help')`, {
        command: 'convert',
      });
    }
    if (input === undefined) throw new PeftkitError('PEFTKIT_E_USAGE', "convert: missing <model.bin> (see 'peftkit convert --help')", { command: 'convert' });
    const tokenizer = requireString(values, 'tokenizer', 'convert');
    const out = requireString(values, 'out', 'convert');
    const result = await convertLlama2cFiles(input, tokenizer, out, { overwrite: values.overwrite === true });
    io.err(`wrote ${out} (${result.parameters.toLocaleString('en-US')} parameters): ${result.files.join(', ')}`);
    return 0;
  },
};
