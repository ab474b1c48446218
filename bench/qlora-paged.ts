/**
 * PagedAdamW with a byte budget of 25 % of the optimizer state vs unbounded: identical updates, lower peak host
 * memory for the moments, and the cost of paging through files. Each mode runs in its own process for RSS.
 * Usage: node --import tsx bench/qlora-paged.ts [--vars 16] [--size 1048576] [--steps 3]
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Rng } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { PagedAdamW } from '@peftkit/qlora';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const vars = arg('vars', 16);
const size = arg('size', 1 << 20);
const steps = arg('steps', 3);
const mode = process.argv.includes('--child-budget') ? 'budget' : process.argv.includes('--child-free') ? 'free' : null;

if (mode !== null) {
  const kernel = await createKernel({ backend: 'wasm', logger: { warn() {}, info() {} } });
  const tf = kernel.tf;
  const rng = new Rng(1);
  const variables = Array.from({ length: vars }, () => tf.variable(tf.tensor1d(rng.normalArray(size, 0, 0.02)), true));
  const stateBytes = vars * size * 8;
  const opt = new PagedAdamW(
    tf,
    { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
    mode === 'budget' ? { budgetBytes: stateBytes / 4 } : {},
  );
  let peakRss = process.memoryUsage().rss;
  const start = performance.now();
  for (let s = 0; s < steps; s++) {
    const g = new Rng(10 + s);
    const grads = Object.fromEntries(variables.map((v) => [v.name, tf.tensor1d(g.normalArray(size))]));
    opt.apply(variables, grads, 1e-3);
    tf.dispose(Object.values(grads));
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const ms = (performance.now() - start) / steps;
  const hash = createHash('sha256');
  for (const v of variables) hash.update(new Uint8Array((v.dataSync() as Float32Array).buffer));
  console.log(
    JSON.stringify({
      mode,
      stateBytes,
      peakHostBytes: opt.peakHostBytes,
      spilled: opt.spilledBytes,
      peakRss,
      ms,
      digest: hash.digest('hex').slice(0, 16),
    }),
  );
  opt.dispose();
} else {
  const self = fileURLToPath(import.meta.url);
  const run = (flag: string) =>
    JSON.parse(
      execFileSync(
        process.execPath,
        [...process.execArgv, self, flag, '--vars', String(vars), '--size', String(size), '--steps', String(steps)],
        {
          encoding: 'utf8',
        },
      )
        .trim()
        .split('\n')
        .at(-1) as string,
    );
  const free = run('--child-free');
  const budget = run('--child-budget');
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  console.log(
    `## PagedAdamW, ${vars} variables × ${size} floats (${mib(free.stateBytes)} of moments), ${steps} steps, wasm\n`,
  );
  console.log('| budget | peak moment bytes (host) | spilled at end | peak RSS | ms/step | final weights sha256 |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const [label, r] of [
    ['unbounded', free],
    ['25 % of the state', budget],
  ] as const) {
    console.log(
      `| ${label} | ${mib(r.peakHostBytes)} | ${mib(r.spilled)} | ${mib(r.peakRss)} | ` +
        `${r.ms.toFixed(0)} | ${r.digest} |`,
    );
  }
  console.log(`\nidentical final weights: ${free.digest === budget.digest}`);
}
