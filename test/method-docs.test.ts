import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from '@peftkit/core';
import { configTable, withConfigTable } from '@peftkit/core';
import { describeType } from '../core/src/plugin/config-table.ts';
import { METHOD_PACKAGES, methodReadme } from '../scripts/method-docs.ts';

test('config tables list every field with its type and default', () => {
  const schema = z.strictObject({
    r: z.number().int().positive().default(8),
    bias: z.enum(['none', 'all']).default('none'),
    target_modules: z
      .union([z.array(z.string()), z.string()])
      .nullable()
      .default(null),
    name: z.string(),
  });
  const table = configTable(schema);
  assert.match(table, /\| `r` \| integer \(> 0\) \| `8` \|/, table);
  assert.match(table, /\| `bias` \| "none" \\\| "all" \| `"none"` \|/, table);
  assert.match(table, /\| `target_modules` \| string\[\] \\\| string \\\| null \| `null` \|/, table);
  assert.match(table, /\| `name` \| string \| \*\(required\)\* \|/, table);
  assert.equal(
    describeType({ type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'integer' }] } }),
    '(string \\| integer)[]',
    'union arrays are bracketed',
  );
});

test('withConfigTable replaces the generated block and keeps the rest of the README', () => {
  const once = withConfigTable('# x\n\ntext\n', 'T1');
  assert.match(once, /## Configuration \(all fields\)/, 'appended under a heading');
  const twice = withConfigTable(`${once}\nafter\n`, 'T2');
  assert.ok(twice.includes('T2') && !twice.includes('T1') && twice.endsWith('after\n'), twice);
});

for (const name of METHOD_PACKAGES) {
  test(`plugins/${name}/README.md carries the config table of its schema (npm run docs)`, async () => {
    const { current, expected } = await methodReadme(name);
    assert.equal(current, expected, `plugins/${name}/README.md is out of date: run npm run docs`);
  });
}
