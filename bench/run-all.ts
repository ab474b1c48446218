/**
 * Every benchmark in sequence, each in its own process (what `npm run bench` runs). `--quick` gives CI-sized runs
 * that exercise every harness in a few minutes; their numbers are not measurements. `--only train,serving` picks.
 * Usage: node --import tsx bench/run-all.ts [--quick] [--only matmul,inference,train,peer-inference,serving,qlora]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Bench {
  name: string;
  script: string;
  full: string[];
  quick: string[];
}

const BENCHES: readonly Bench[] = [
  { name: 'matmul', script: 'matmul.ts', full: [], quick: ['--backends', 'wasm'] },
  {
    name: 'inference',
    script: 'inference.ts',
    full: [],
    quick: [
      '--backends',
      'wasm',
      '--models',
      '260k',
      '--batches',
      '1',
      '--prompt',
      '16',
      '--new-tokens',
      '8',
      '--max-cell-s',
      '5',
    ],
  },
  // The issue's shape (seq 256, batch 8) fits the wasm heap since the fused loss and the sharing Identity kernel.
  { name: 'train', script: 'train.ts', full: [], quick: ['--quick'] },
  { name: 'peer-inference', script: 'peer/inference.ts', full: [], quick: ['--quick'] },
  { name: 'serving', script: 'serving.ts', full: [], quick: ['--quick'] },
  { name: 'qlora', script: 'qlora-memory.ts', full: [], quick: ['--quick'] },
];

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const onlyIndex = argv.indexOf('--only');
const only = onlyIndex >= 0 ? (argv[onlyIndex + 1] ?? '').split(',').filter(Boolean) : undefined;
const unknown = (only ?? []).filter((n) => !BENCHES.some((b) => b.name === n));
if (unknown.length > 0) {
  console.error(`unknown bench(es) ${unknown.join(', ')} (known: ${BENCHES.map((b) => b.name).join(', ')})`);
  process.exit(2);
}

const summary: string[] = [];
for (const bench of BENCHES) {
  if (only !== undefined && !only.includes(bench.name)) continue;
  console.log(`\n=== bench ${bench.name}${quick ? ' (quick)' : ''} ===`);
  const script = fileURLToPath(new URL(bench.script, import.meta.url));
  const start = performance.now();
  const result = spawnSync(
    process.execPath,
    ['--conditions=peftkit:source', '--import', 'tsx', script, ...(quick ? bench.quick : bench.full)],
    {
      stdio: 'inherit',
    },
  );
  const seconds = ((performance.now() - start) / 1000).toFixed(0);
  summary.push(
    `${bench.name}: ` +
      `${result.status === 0 ? 'ok' : `FAILED (status ${result.status}, signal ${result.signal})`} in ${seconds} s`,
  );
}
console.log(`\n=== summary ===\n${summary.join('\n')}`);
process.exitCode = summary.some((line) => line.includes('FAILED')) ? 1 : 0;
