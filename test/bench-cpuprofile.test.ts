import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summarise } from '../bench/cpuprofile-top.ts';

// root → main → leaf, and root → gc; samples every 1 ms from t = 100 µs.
const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });
const profile = {
  startTime: 0,
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 4] },
    { id: 2, callFrame: frame('main', 'file:///x/a.ts'), children: [3] },
    { id: 3, callFrame: frame('leaf', 'file:///x/b.ts') },
    { id: 4, callFrame: frame('(garbage collector)') },
  ],
  samples: [3, 3, 2, 4],
  timeDeltas: [100, 1000, 1000, 1000],
};

test('bench cpuprofile-top: self and total time per function, callers, and time windows', () => {
  const all = summarise(profile, /^leaf /);
  const by = new Map(all.functions.map((f) => [f.name, f]));
  assert.equal(all.totalMs, 3.1, 'every sample counted');
  assert.deepEqual([by.get('leaf b.ts:1')?.selfMs, by.get('leaf b.ts:1')?.totalMs], [1.1, 1.1], 'leaf: two samples');
  assert.deepEqual(
    [by.get('main a.ts:1')?.selfMs, by.get('main a.ts:1')?.totalMs],
    [1, 2.1],
    'main: own sample, plus its callee in total',
  );
  assert.equal(all.callerMs.get('main a.ts:1 -> leaf b.ts:1'), 1.1, 'leaf called by main');
  const late = summarise(profile, undefined, [[1500, 4000]]);
  assert.equal(late.totalMs, 2, 'the window keeps the samples taken at 2.1 and 3.1 ms');
  assert.equal(
    late.functions.find((f) => f.name === 'leaf b.ts:1'),
    undefined,
    'the leaf samples fall before the window',
  );
});
