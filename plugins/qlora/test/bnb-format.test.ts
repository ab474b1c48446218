import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '@peftkit/core';
import {
  convertBnbCheckpoint,
  dequantize4,
  FP4_CODE,
  fromBnbTensors,
  NF4_CODE,
  pythonFloat,
  quantize4,
  type RawTensor,
  toBnbTensors,
} from '@peftkit/qlora';

const text = (t: RawTensor | undefined) => new TextDecoder().decode(t?.data);
const f32 = (values: readonly number[]): RawTensor => ({
  dtype: 'F32',
  shape: [values.length],
  data: new Uint8Array(Float32Array.from(values).buffer),
});
const u8 = (values: readonly number[], shape = [values.length]): RawTensor => ({
  dtype: 'U8',
  shape,
  data: Uint8Array.from(values),
});
const code = (t: { code?: string }) => t.code;

test('python float repr as json.dumps writes it', () => {
  const cases: [number, string][] = [
    [0.5, '0.5'],
    [1, '1.0'],
    [0, '0.0'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [-0.00012345, '-0.00012345'],
    [1e16, '1e+16'],
    [123.25, '123.25'],
    [Math.fround(0.1), '0.10000000149011612'],
    [2 ** 53 + 2, '9007199254740994.0'],
  ];
  for (const [x, expected] of cases) assert.equal(pythonFloat(x), expected, `repr(${x})`);
});

test('hand-built bnb NF4 weight (no double quant) reads as the code book says', () => {
  // shape [2, 4], one block with absmax 2; codes 15,0 | 7,9 | 8,14 | 1,7 packed high nibble first.
  const tensors = new Map<string, RawTensor>([
    ['m.weight', u8([0xf0, 0x79, 0x8e, 0x17], [4, 1])],
    ['m.weight.absmax', f32([2])],
    ['m.weight.quant_map', f32([...NF4_CODE])],
    [
      'm.weight.quant_state.bitsandbytes__nf4',
      u8([...new TextEncoder().encode('{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [2, 4]}')]),
    ],
  ]);
  const { state, dtype } = fromBnbTensors('m.weight', (k) => tensors.get(k));
  assert.equal(dtype, 'bfloat16', 'torch dtype from the quant_state');
  assert.deepEqual(state.shape, [2, 4], 'shape');
  const expected = [15, 0, 7, 9, 8, 14, 1, 7].map((c) => Math.fround((NF4_CODE[c] as number) * 2));
  assert.deepEqual([...dequantize4(state)], expected, 'values = code × absmax');
  // Writing it back gives the same bytes (dtype kept).
  const written = toBnbTensors('m.weight', state, 'bfloat16');
  for (const [k, t] of tensors) assert.deepEqual(written.get(k)?.data, t.data, `${k} bytes`);
  assert.deepEqual(written.get('m.weight')?.shape, [4, 1], 'packed shape [n/2, 1]');
});

test('hand-built double-quantized FP4 weight: nested absmax, nested map and offset', () => {
  // Two 32-blocks; stored absmax codes index a 256-map whose entries 0 and 255 are −1 and 1: absmax = ±1·0.25 + 0.5.
  const nestedMap = Array.from({ length: 256 }, (_, i) => (i === 0 ? -1 : i === 255 ? 1 : 0));
  const json =
    '{"quant_type": "fp4", "blocksize": 32, "dtype": "float32", "shape": [64], ' +
    '"nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.5}';
  const packed = new Array(32).fill(0x3b); // codes 3 (+1) and 11 (−1)
  const tensors = new Map<string, RawTensor>([
    ['w.weight', u8(packed, [32, 1])],
    ['w.weight.absmax', u8([0, 255])],
    ['w.weight.quant_map', f32([...FP4_CODE])],
    ['w.weight.nested_absmax', f32([0.25])],
    ['w.weight.nested_quant_map', f32(nestedMap)],
    ['w.weight.quant_state.bitsandbytes__fp4', u8([...new TextEncoder().encode(json)])],
  ]);
  const { state } = fromBnbTensors('w.weight', (k) => tensors.get(k));
  const values = dequantize4(state);
  assert.deepEqual([...values.slice(0, 4)], [0.25, -0.25, 0.25, -0.25], 'first block absmax −0.25 + 0.5');
  assert.deepEqual([...values.slice(32, 36)], [0.75, -0.75, 0.75, -0.75], 'second block absmax 0.25 + 0.5');
  assert.equal(
    text(toBnbTensors('w.weight', state).get('w.weight.quant_state.bitsandbytes__fp4')),
    json,
    'quant_state JSON byte-identical',
  );
});

test('write → read round trip for NF4/FP4 with and without double quantization', () => {
  const values = new Rng(8).normalArray(96 * 40, 0, 0.1);
  for (const quantType of ['nf4', 'fp4'] as const) {
    for (const doubleQuant of [false, true]) {
      const q = quantize4(values, [96, 40], { quantType, blockSize: 64, doubleQuant });
      const tensors = toBnbTensors('layer.weight', q);
      const keys = [...tensors.keys()].sort();
      const expectedKeys = [
        'layer.weight',
        'layer.weight.absmax',
        `layer.weight.quant_state.bitsandbytes__${quantType}`,
        'layer.weight.quant_map',
      ];
      if (doubleQuant) expectedKeys.push('layer.weight.nested_absmax', 'layer.weight.nested_quant_map');
      assert.deepEqual(keys, expectedKeys.sort(), 'bnb key names');
      assert.equal(tensors.get('layer.weight.absmax')?.dtype, doubleQuant ? 'U8' : 'F32', 'absmax dtype');
      const state = JSON.parse(text(tensors.get(`layer.weight.quant_state.bitsandbytes__${quantType}`)));
      assert.deepEqual(
        Object.keys(state),
        [
          'quant_type',
          'blocksize',
          'dtype',
          'shape',
          ...(doubleQuant ? ['nested_blocksize', 'nested_dtype', 'nested_offset'] : []),
        ],
        'quant_state keys in bnb order',
      );
      const back = fromBnbTensors('layer.weight', (k) => tensors.get(k)).state;
      assert.deepEqual(
        dequantize4(back),
        dequantize4(q),
        `${quantType} dq=${doubleQuant}: identical dequantized values`,
      );
    }
  }
});

test('malformed bnb weights are coded errors', () => {
  const q = quantize4(new Rng(1).normalArray(128), [2, 64], { quantType: 'nf4', blockSize: 64, doubleQuant: true });
  const good = toBnbTensors('x.weight', q);
  const variants: [string, (m: Map<string, RawTensor>) => void, string][] = [
    ['missing absmax', (m) => m.delete('x.weight.absmax'), 'PEFTKIT_E_BNB_KEY_MISSING'],
    ['short packed', (m) => m.set('x.weight', u8([1, 2, 3], [3, 1])), 'PEFTKIT_E_BNB_FORMAT'],
    ['foreign quant_map', (m) => m.set('x.weight.quant_map', f32(new Array(16).fill(0.5))), 'PEFTKIT_E_BNB_FORMAT'],
    ['bad JSON', (m) => m.set('x.weight.quant_state.bitsandbytes__nf4', u8([123, 34])), 'PEFTKIT_E_BNB_FORMAT'],
    ['nested map size', (m) => m.set('x.weight.nested_quant_map', f32([1, 2])), 'PEFTKIT_E_BNB_FORMAT'],
  ];
  for (const [label, mutate, expected] of variants) {
    const m = new Map(good);
    mutate(m);
    assert.throws(
      () => fromBnbTensors('x.weight', (k) => m.get(k)),
      (e: unknown) => code(e as { code?: string }) === expected,
      label,
    );
  }
});

test('checkpoint conversion: float → nf4 → fp4 → float; head, embeddings and norms stay float', () => {
  const rng = new Rng(2);
  const w = rng.normalArray(32 * 64, 0, 0.2);
  const tensors = new Map<string, RawTensor>([
    ['model.layers.0.self_attn.q_proj.weight', { dtype: 'F32', shape: [32, 64], data: new Uint8Array(w.buffer) }],
    ['model.embed_tokens.weight', { dtype: 'F32', shape: [10, 64], data: new Uint8Array(rng.normalArray(640).buffer) }],
    ['lm_head.weight', { dtype: 'F32', shape: [10, 64], data: new Uint8Array(rng.normalArray(640).buffer) }],
    ['model.norm.weight', { dtype: 'F32', shape: [64], data: new Uint8Array(rng.normalArray(64).buffer) }],
  ]);
  const config = { model_type: 'llama', hidden_size: 64 };
  const nf4 = convertBnbCheckpoint(tensors, config, { to: 'nf4' });
  assert.deepEqual(nf4.quantized, ['model.layers.0.self_attn.q_proj.weight'], 'only the linear weight');
  assert.equal(nf4.tensors.get('model.layers.0.self_attn.q_proj.weight')?.dtype, 'U8', 'packed');
  for (const k of ['model.embed_tokens.weight', 'lm_head.weight', 'model.norm.weight'])
    assert.equal(nf4.tensors.get(k), tensors.get(k), `${k} untouched`);
  assert.deepEqual(
    nf4.config.quantization_config,
    {
      quant_method: 'bitsandbytes',
      load_in_4bit: true,
      load_in_8bit: false,
      bnb_4bit_quant_type: 'nf4',
      bnb_4bit_use_double_quant: true,
      bnb_4bit_compute_dtype: 'float32',
      bnb_4bit_quant_storage: 'uint8',
      llm_int8_skip_modules: null,
    },
    'transformers quantization_config',
  );
  const fp4 = convertBnbCheckpoint(nf4.tensors, nf4.config, { to: 'fp4' });
  assert.deepEqual(fp4.dequantized, ['model.layers.0.self_attn.q_proj.weight'], 'nf4 read back first');
  assert.ok(
    fp4.tensors.has('model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__fp4'),
    'then written as fp4',
  );
  const float = convertBnbCheckpoint(nf4.tensors, nf4.config, { to: 'float' });
  assert.equal(float.config.quantization_config, undefined, 'quantization_config removed');
  assert.equal(float.tensors.size, 4, 'no bnb companions left');
  const back = float.tensors.get('model.layers.0.self_attn.q_proj.weight') as RawTensor;
  assert.deepEqual(back.shape, [32, 64], 'original shape');
  const expected = dequantize4(quantize4(w, [32, 64], { quantType: 'nf4', blockSize: 64, doubleQuant: true }));
  assert.deepEqual(new Float32Array(back.data.slice().buffer), expected, 'dequantized values');
});
