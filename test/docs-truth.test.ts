import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Documentation claims checked against the code they describe, so they cannot drift again.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');

test('server/README.md lists every merged_adapters strategy the LoRAX route accepts', () => {
  const source = read('server/src/http/lorax.ts');
  const list = /LORAX_STRATEGIES = \[([^\]]*)\]/.exec(source)?.[1] ?? '';
  const strategies = [...list.matchAll(/'([\w-]+)'/g)].map((m) => m[1] as string);
  assert.ok(strategies.length >= 2, `strategies found in lorax.ts: ${strategies}`);
  const readme = read('server/README.md');
  assert.doesNotMatch(readme, /`linear` only/, 'no "linear only" claim');
  for (const s of strategies) assert.ok(readme.includes(`\`${s}\``), `server/README.md names merge strategy ${s}`);
});

test("README's bench row says which benches write JSON/SVG, matching the scripts", () => {
  const benches = [
    ...read('app/src/cli/cmd-bench.ts').matchAll(/^ {2}'?([\w-]+)'?: 'bench\/([\w/.-]+\.ts)',$/gm),
  ].filter((m) => m[1] !== 'all');
  assert.ok(benches.length >= 5, 'benches found in cmd-bench.ts');
  const row = read('README.md')
    .split('\n')
    .find((l) => l.startsWith('| `bench ')) as string;
  const printOnly = /\(([^)]*) print only\)/.exec(row)?.[1] ?? '';
  for (const [, name, file] of benches) {
    const src = read(`bench/${file}`);
    const writesJson = /writeFileSync/.test(src) && /\.json/.test(src);
    if (writesJson)
      assert.ok(
        row.includes(`\`${name}\``) && !printOnly.includes(`\`${name}\``),
        `README says bench ${name} writes JSON`,
      );
    else assert.ok(printOnly.includes(`\`${name}\``), `README says bench ${name} only prints (it writes no JSON)`);
  }
});

test(
  'ARCHITECTURE.md: method plugins reach tfjs only through @peftkit/core (no @tensorflow import in ' + 'plugins/)',
  () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        if (name === 'node_modules' || name === 'dist') continue;
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (/\.(ts|mjs|js)$/.test(name) && /from '@tensorflow\//.test(readFileSync(path, 'utf8')))
          offenders.push(path);
      }
    };
    walk(join(ROOT, 'plugins'));
    assert.deepEqual(offenders, [], 'plugins import tensor types from @peftkit/core');
    assert.match(
      read('ARCHITECTURE.md'),
      /method plugins \|[^\n]*tensor types `@peftkit\/core` re-exports/,
      'the rule is written down',
    );
  },
);
