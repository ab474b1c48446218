import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { PeftkitError } from '@peftkit/io';
import { parseCommand } from './args.ts';
import type { Command } from './commands.ts';

const BENCHES: Record<string, string> = {
  matmul: 'bench/matmul.ts',
  inference: 'bench/inference.ts',
  train: 'bench/train.ts',
  'peer-inference': 'bench/peer/inference.ts',
  serving: 'bench/serving.ts',
  qlora: 'bench/qlora-memory.ts',
  all: 'bench/run-all.ts',
};

const usage = `Usage: peftkit bench <name> [-- bench options]

Runs a benchmark from the bench/ folder of a peftkit repository checkout (the current directory) and prints
its table; benchmarks are not part of the installed package. Available: ${Object.keys(BENCHES).join(', ')}.
Examples: peftkit bench matmul -- --backends wasm,cpu
          peftkit bench inference -- --backends wasm --models 260k,15m --batches 1,8 --prompt 64 --new-tokens 32
            (prefill/decode tokens/s table on stdout; JSON written to bench/results/inference-<time>.json)
          peftkit bench train -- [--quick] [--seq 256] [--batch 8] [--steps 3] [--methods full,lora] [--no-peer]
          peftkit bench all -- [--quick]   (every bench in sequence: what 'npm run bench' runs)`;

export const benchCommand: Command = {
  name: 'bench',
  summary: 'run a benchmark from bench/ and print its table',
  usage,
  async run(argv, io) {
    const dash = argv.indexOf('--');
    const own = dash === -1 ? argv : argv.slice(0, dash);
    const rest = dash === -1 ? [] : argv.slice(dash + 1);
    const { values, positionals } = parseCommand(own, {}, 'bench');
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const name = positionals[0];
    const rel = name === undefined ? undefined : BENCHES[name];
    if (rel === undefined)
      throw new PeftkitError(
        'PEFTKIT_E_USAGE',
        `bench: unknown benchmark '${name ?? ''}' (available: ${Object.keys(BENCHES).join(', ')})`,
        {
          command: 'bench',
        },
      );
    // The benches live in the repository, not in the package: run them from a checkout.
    const script = resolve(rel);
    if (!existsSync(script)) {
      throw new PeftkitError(
        'PEFTKIT_E_BENCH_MISSING',
        `bench: ${rel} not found; run 'peftkit bench' from the root of a peftkit repository checkout`,
        {
          script,
        },
      );
    }
    // Benchmarks run as their own process so their backend choices and memory stay out of this one.
    const result = spawnSync(process.execPath, ['--conditions=peftkit:source', '--import', 'tsx', script, ...rest], {
      stdio: 'inherit',
    });
    return result.status ?? 1;
  },
};
