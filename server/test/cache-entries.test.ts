import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Entry, EntryTable } from '../src/engine/cache-entries.ts';
import type { Version } from '../src/engine/cache-versions.ts';

function entry(
  table: EntryTable,
  name: string,
  bytes: number,
  options: { pinned?: boolean; refs?: number } = {},
): Entry {
  const current = {
    internal: `${name}.v1`,
    version: 1,
    bytes,
    parameters: 0,
    refs: options.refs ?? 0,
    retired: false,
  } as unknown as Version;
  return { name, current, pinned: options.pinned ?? false, lastUsed: table.tick(), source: name, sources: [] };
}

test('EntryTable keeps the byte total through set, replace, delete and clear', () => {
  const table = new EntryTable();
  table.set(entry(table, 'a', 100));
  table.set(entry(table, 'b', 30));
  assert.equal(table.bytes, 130, 'two entries');
  const old = table.set(entry(table, 'a', 10));
  assert.equal(old?.current.bytes, 100, 'replacing returns the entry it replaced');
  assert.equal(table.bytes, 40, 'a replaced entry no longer counts');
  assert.equal(table.delete('b')?.name, 'b', 'delete returns the entry');
  assert.equal(table.delete('b'), undefined, 'deleting twice is a no-op');
  assert.equal(table.bytes, 10, 'after delete');
  assert.equal(table.size, 1, 'one left');
  table.clear();
  assert.deepEqual([table.bytes, table.size], [0, 0], 'cleared');
});

test('EntryTable picks the least recently used idle, unpinned entry other than the one kept', () => {
  const table = new EntryTable();
  const [a, b, c, d] = [
    entry(table, 'a', 1),
    entry(table, 'b', 1, { pinned: true }),
    entry(table, 'c', 1, { refs: 1 }),
    entry(table, 'd', 1),
  ];
  for (const e of [d, c, b, a]) table.set(e);
  assert.equal(table.leastRecentIdle('')?.name, 'a', 'oldest use wins, not insertion order');
  table.touch(a);
  assert.equal(table.leastRecentIdle('')?.name, 'd', 'a touched: d is the oldest idle one (b pinned, c in use)');
  assert.equal(table.leastRecentIdle('d')?.name, 'a', 'the kept name is never the victim');
  assert.equal(table.leastRecentIdle('a') === d, true, 'the entry object itself');
  table.delete('a');
  table.delete('d');
  assert.equal(table.leastRecentIdle(''), undefined, 'nothing idle and unpinned left');
});
