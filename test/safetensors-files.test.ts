import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PeftkitError } from '../packages/io/src/errors.ts';
import {
  type SafetensorsTensor,
  type TensorToWrite,
  decodeTensor,
  readModelWeights,
  readSafetensorsFile,
  readShardedSafetensors,
  serializeSafetensors,
  writeSafetensorsFile,
  writeShardedSafetensors,
} from '../packages/io/src/safetensors.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-st-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PeftkitError, `expected PeftkitError, got ${String(error)}`);
    return error.code;
  }
  return 'no error';
}

const values = (t: SafetensorsTensor | undefined) => (t ? decodeTensor(t).values : undefined);

function sampleTensors(): TensorToWrite[] {
  return [
    { name: 'layers.0.w', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    { name: 'layers.0.b', dtype: 'F16', shape: [3], data: new Float32Array([0.5, -1, 2]) },
    { name: 'layers.1.w', dtype: 'BF16', shape: [4], data: new Float32Array([1, 2, 3, 4]) },
    { name: 'layers.1.q', dtype: 'U8', shape: [5], data: new Uint8Array([1, 2, 3, 4, 5]) },
    { name: 'steps', dtype: 'I64', shape: [], data: new Int32Array([42]) },
  ];
}

test('file round trip with metadata, and overwrite', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'adapter_model.safetensors');
    await writeSafetensorsFile(path, sampleTensors(), { format: 'pt', note: 'é ✓' });
    const file = await readSafetensorsFile(path);
    assert.deepEqual(file.metadata, { format: 'pt', note: 'é ✓' });
    assert.equal(file.tensors.size, 5);
    assert.deepEqual(values(file.tensors.get('layers.0.w')), new Float32Array([1, 2, 3, 4, 5, 6]));
    assert.deepEqual(values(file.tensors.get('steps')), new Int32Array([42]));
    await writeSafetensorsFile(path, [{ name: 'x', dtype: 'I32', shape: [1], data: new Int32Array([7]) }]);
    const again = await readSafetensorsFile(path);
    assert.deepEqual([...again.tensors.keys()], ['x']);
    assert.deepEqual(await readdir(dir), ['adapter_model.safetensors']);
  });
});

test('read errors carry codes and the path', async () => {
  await withDir(async (dir) => {
    assert.equal(await codeOf(readSafetensorsFile(join(dir, 'missing.safetensors'))), 'PEFTKIT_E_IO_NOT_FOUND');
    const path = join(dir, 'bad.safetensors');
    await writeFile(path, new Uint8Array([1, 2, 3]));
    try {
      await readSafetensorsFile(path);
      assert.fail('expected an error');
    } catch (error) {
      assert.ok(error instanceof PeftkitError);
      assert.equal(error.code, 'PEFTKIT_E_SAFETENSORS_TRUNCATED');
      assert.equal(error.details.path, path);
    }
  });
});

test('a failed rename leaves the original file intact and no temporary file', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'model.safetensors');
    await writeSafetensorsFile(path, sampleTensors());
    const before = await readFile(path);
    const failingRename = async () => {
      throw Object.assign(new Error('simulated crash before rename'), { code: 'EIO' });
    };
    const code = await codeOf(
      writeSafetensorsFile(path, [{ name: 'y', dtype: 'U8', shape: [1], data: new Uint8Array([1]) }], undefined, {
        rename: failingRename,
      }),
    );
    assert.equal(code, 'PEFTKIT_E_IO_WRITE');
    assert.deepEqual(await readFile(path), before);
    assert.deepEqual(await readdir(dir), ['model.safetensors']);
  });
});

test('real filesystem failures: target is a directory, parent missing', async () => {
  await withDir(async (dir) => {
    const target = join(dir, 'taken');
    await mkdir(target);
    await writeFile(join(target, 'keep.txt'), 'keep');
    const bytes = [{ name: 'a', dtype: 'U8' as const, shape: [1], data: new Uint8Array([1]) }];
    assert.equal(await codeOf(writeSafetensorsFile(target, bytes)), 'PEFTKIT_E_IO_WRITE');
    assert.deepEqual(await readdir(dir), ['taken']);
    assert.equal(await readFile(join(target, 'keep.txt'), 'utf8'), 'keep');
    assert.equal(await codeOf(writeSafetensorsFile(join(dir, 'no', 'x.safetensors'), bytes)), 'PEFTKIT_E_IO_WRITE');
    assert.deepEqual(await readdir(dir), ['taken']);
  });
});

test('sharded round trip, index layout, readModelWeights choice', async () => {
  await withDir(async (dir) => {
    assert.equal(await codeOf(readModelWeights(dir)), 'PEFTKIT_E_SAFETENSORS_NOT_FOUND');
    const { shards } = await writeShardedSafetensors(dir, sampleTensors(), {
      maxShardBytes: 30,
      metadata: { format: 'pt' },
    });
    assert.deepEqual(shards, ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8'));
    assert.equal(index.metadata.total_size, 24 + 6 + 8 + 5 + 8);
    assert.equal(index.weight_map['layers.0.w'], shards[0]);
    assert.equal(index.weight_map.steps, shards[1]);
    const sharded = await readShardedSafetensors(dir);
    assert.equal(sharded.tensors.size, 5);
    assert.deepEqual(values(sharded.tensors.get('layers.1.w')), new Float32Array([1, 2, 3, 4]));
    assert.deepEqual(values(sharded.tensors.get('layers.0.b')), new Float32Array([0.5, -1, 2]));
    const weights = await readModelWeights(dir);
    assert.equal(weights.kind, 'sharded');
    assert.deepEqual(weights.shards, shards);
    await writeSafetensorsFile(join(dir, 'model.safetensors'), sampleTensors().slice(0, 1));
    const single = await readModelWeights(dir);
    assert.equal(single.kind, 'single');
    assert.equal(single.tensors.size, 1);
    const code = await codeOf(writeShardedSafetensors(dir, sampleTensors(), { maxShardBytes: 0 }));
    assert.equal(code, 'PEFTKIT_E_SAFETENSORS_WRITE_INPUT');
  });
});

async function writeIndex(dir: string, weightMap: unknown, raw?: string): Promise<void> {
  const text = raw ?? JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap });
  await writeFile(join(dir, 'model.safetensors.index.json'), text);
}

test('index shard names must stay inside the directory', async () => {
  await withDir(async (dir) => {
    const inner = join(dir, 'inner');
    await mkdir(inner);
    await writeFile(join(dir, 'outside.safetensors'), serializeSafetensors([]));
    const hostile = [
      '../outside.safetensors',
      '/etc/passwd.safetensors',
      join(dir, 'outside.safetensors'),
      'sub/x.safetensors',
      '..\\outside.safetensors',
      'C:x.safetensors',
      '..',
      '',
      'model.bin',
      'a\u0000.safetensors',
    ];
    for (const shard of hostile) {
      await writeIndex(inner, { w: shard });
      assert.equal(await codeOf(readShardedSafetensors(inner)), 'PEFTKIT_E_SAFETENSORS_INDEX_PATH', shard);
    }
  });
});

test('index content and shard membership are validated', async () => {
  await withDir(async (dir) => {
    const a = serializeSafetensors([{ name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array([1]) }]);
    await writeFile(join(dir, 'one.safetensors'), a);
    await writeFile(join(dir, 'two.safetensors'), serializeSafetensors([]));
    const check = async (weightMap: unknown, expected: string, raw?: string) => {
      await writeIndex(dir, weightMap, raw);
      assert.equal(await codeOf(readShardedSafetensors(dir)), expected, raw ?? JSON.stringify(weightMap));
    };
    await check({ a: 'one.safetensors' }, 'no error');
    await check({ a: 'two.safetensors' }, 'PEFTKIT_E_SAFETENSORS_SHARD_MISMATCH');
    await check({ a: 'one.safetensors', b: 'one.safetensors' }, 'PEFTKIT_E_SAFETENSORS_SHARD_MISMATCH');
    await check({ b: 'one.safetensors' }, 'PEFTKIT_E_SAFETENSORS_SHARD_MISMATCH');
    await check({ a: 'missing.safetensors' }, 'PEFTKIT_E_IO_NOT_FOUND');
    await check({ a: 3 }, 'PEFTKIT_E_SAFETENSORS_INDEX');
    await check(null, 'PEFTKIT_E_SAFETENSORS_INDEX', '{"metadata":{}}');
    await check(null, 'PEFTKIT_E_SAFETENSORS_INDEX', '[1]');
    await check(null, 'PEFTKIT_E_SAFETENSORS_INDEX', '{"weight_map":');
    await check(null, 'PEFTKIT_E_SAFETENSORS_INDEX', '{"weight_map":{},"metadata":[]}');
    await check(
      null,
      'PEFTKIT_E_SAFETENSORS_INDEX',
      `{"weight_map":{},"metadata":${'['.repeat(1000)}${']'.repeat(1000)}}`,
    );
    await check(
      null,
      'PEFTKIT_E_SAFETENSORS_DUPLICATE',
      '{"weight_map":{"a":"one.safetensors","a":"two.safetensors"}}',
    );
  });
});
