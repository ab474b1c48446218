import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { extractImports, findViolations, formatViolations } from '../scripts/import-graph.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

test('the repository has no forbidden import edges (node scripts/import-graph.mjs)', () => {
  const violations = findViolations(ROOT);
  assert.equal(violations.length, 0, `forbidden import edges:\n${formatViolations(violations)}`);
});

test('extractImports finds every import form and ignores comments and strings', () => {
  const src = [
    "import a, { b as c } from './a.ts';",
    "import type {\n  T,\n} from '@peftkit/core';",
    "export * from './b.ts';",
    "import './side.ts';",
    "const m = await import('./dyn.ts');",
    "const w = new URL('./worker.ts', import.meta.url);",
    "const asset = new URL('./data.json', import.meta.url);",
    "// import x from './commented.ts';",
    'const s = "import y from \'./in-string.ts\'";',
    'const re = /import z from "x"/;',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: source text under test, not a template
    'const t = `${await import(`./${name}.ts`)}`;',
  ].join('\n');
  const found = extractImports(src).map((i) => `${i.kind} ${i.specifier} ${i.line}`);
  assert.deepEqual(
    found,
    [
      'static ./a.ts 1',
      'static @peftkit/core 4',
      'static ./b.ts 5',
      'side-effect ./side.ts 6',
      'dynamic ./dyn.ts 7',
      'url ./worker.ts 8',
    ],
    `extracted: ${found.join('; ')}`,
  );
});

const FAKE: Record<string, string> = {
  'core/src/x.ts': "import lora from '@peftkit/lora';\nexport default lora;\n",
  'core/src/di/scope.ts': "import { container } from 'tsyringe';\nexport { container };\n",
  'core/src/other.ts': "import { container } from 'tsyringe';\nexport { container };\n",
  'server/src/y.ts': "import { createKernel } from '../../core/src/kernel.ts';\nexport { createKernel };\n",
  'plugins/foo/src/z.ts': "import { startServer } from '@peftkit/server';\nexport { startServer };\n",
  'plugins/foo/src/clean.ts': [
    "import { definePlugin } from '@peftkit/core';",
    "import { train } from '@peftkit/core/train';",
    "import { helper } from './helper.ts';",
    "// import { startServer } from '@peftkit/server';",
    'const text = "import x from \'@peftkit/lora\'";',
    'export { definePlugin, helper, text, train };',
  ].join('\n'),
  'plugins/foo/test/t.test.ts':
    "import { h } from '../../bar/test/helpers.ts';\nimport x from '@peftkit/server';\nexport { h, x };\n",
  'app/src/a.ts': "const url = new URL('../../bench/run.ts', import.meta.url);\nexport { url };\n",
  'test/deep.test.ts': "import { createKernel } from '../core/src/kernel.ts';\nexport { createKernel };\n",
};

test('findViolations reports each forbidden edge of a fake repository and nothing else', () => {
  const root = mkdtempSync(join(tmpdir(), 'peftkit-import-graph-'));
  try {
    for (const [path, text] of Object.entries(FAKE)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    const violations = findViolations(root);
    const listed = formatViolations(violations);
    const at = (file: string) => violations.filter((v) => v.file === file);
    assert.match(
      at('core/src/x.ts')[0]?.reason ?? '',
      /@peftkit\/core may not import the method plugin @peftkit\/lora/,
      listed,
    );
    assert.match(at('server/src/y.ts')[0]?.reason ?? '', /relative import leaves server\/ into @peftkit\/core/, listed);
    assert.match(
      at('plugins/foo/src/z.ts')[0]?.reason ?? '',
      /@peftkit\/foo may not import package @peftkit\/server/,
      listed,
    );
    assert.match(at('core/src/other.ts')[0]?.reason ?? '', /tsyringe/, listed);
    assert.match(at('app/src/a.ts')[0]?.reason ?? '', /relative import leaves app\/ into bench/, listed);
    const clean = [
      'plugins/foo/src/clean.ts',
      'core/src/di/scope.ts',
      'plugins/foo/test/t.test.ts',
      'test/deep.test.ts',
    ];
    for (const file of clean) assert.deepEqual(at(file), [], `${file} is clean but was reported:\n${listed}`);
    assert.equal(violations.length, 5, `exactly the five forbidden edges:\n${listed}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
