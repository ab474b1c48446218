import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tf } from '@peftkit/core';
import { createKernel } from 'peftkit';
import { createTinyLlama, tinyBatch } from '@peftkit/testing';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf: Tf = kernel.tf;

/** Counts `has` lookups: resolveSelection asks `known(name)` once per selected row, so lookups / rows = resolves. */
class CountingSet extends Set<string> {
  lookups = 0;
  override has(name: string): boolean {
    this.lookups++;
    return super.has(name);
  }
}

test('a forward resolves the adapter selection once (not again for the head)', () => {
  const model = createTinyLlama(tf);
  const names = new CountingSet(['a']);
  model.adapterNames = names;
  const ids = tinyBatch(2, 5);
  for (const [label, options] of [
    ['perRow', { selection: { perRow: ['a', null] } }],
    ['perRow + lastPosition', { selection: { perRow: ['a', null] }, lastPosition: true }],
  ] as const) {
    names.lookups = 0;
    model.forward({ ids }, options).dispose();
    assert.equal(names.lookups, 1, `${label}: one resolve (one selected row)`);
  }
  model.dispose();
});

test('sequence classification resolves the selection once too', () => {
  const model = createTinyLlama(tf, { task: 'seq-cls', labels: ['x', 'y'] });
  const names = new CountingSet(['a']);
  model.adapterNames = names;
  model.classify({ ids: tinyBatch(2, 4) }, { selection: { perRow: ['a', 'a'] } }).dispose();
  assert.equal(names.lookups, 2, 'two selected rows, one resolve');
  model.dispose();
});
