import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { loadModel, saveModel } from '@peftkit/models';
import { createTinyLlama, logits, maxAbsDiff, TINY_LLAMA_CONFIG, tinyBatch } from '@peftkit/testing';
import { quantizeModel } from '@peftkit/qlora';
import { main } from 'peftkit';

const kernel = await createKernel({ logger: { warn() {}, info() {} } });
const tf = kernel.tf;

async function run(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await main(args, { out: () => {}, err: (t) => (err += `${t}\n`) });
  return { code, err };
}

/** Tensor names and dtypes of a safetensors file, read from its header here (independently of the core reader). */
async function header(path: string): Promise<Record<string, { dtype: string; shape: number[] }>> {
  const bytes = await readFile(path);
  const length = Number(bytes.readBigUInt64LE(0));
  const json = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[] }
  >;
  delete json.__metadata__;
  return json;
}

test('peftkit convert bnb: float → nf4 → float directory round trip equals quantizing in process', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-bnb-'));
  try {
    const model = createTinyLlama(tf, { seed: 21 });
    const src = join(dir, 'float');
    await saveModel(model, src, {
      config: { ...TINY_LLAMA_CONFIG },
      tokenizerFiles: { 'special_tokens_map.json': '{"stub": true}' },
    });
    const quantizedDir = join(dir, 'nf4');
    const toNf4 = await run(['convert', 'bnb', '--to', 'nf4', src, '--out', quantizedDir]);
    assert.equal(toNf4.code, 0, `exit 0: ${toNf4.err}`);
    const h = await header(join(quantizedDir, 'model.safetensors'));
    const q = 'model.layers.0.self_attn.q_proj.weight';
    assert.equal(h[q]?.dtype, 'U8', 'packed q_proj');
    assert.deepEqual(h[q]?.shape, [(16 * 16) / 2, 1], 'bnb packed shape [n/2, 1]');
    for (const k of ['absmax', 'quant_map', 'nested_absmax', 'nested_quant_map', 'quant_state.bitsandbytes__nf4'])
      assert.ok(h[`${q}.${k}`], `${q}.${k} written`);
    assert.equal(h['lm_head.weight']?.dtype, 'F32', 'head stays float');
    const config = JSON.parse(await readFile(join(quantizedDir, 'config.json'), 'utf8')) as Record<
      string,
      { bnb_4bit_quant_type?: string }
    >;
    assert.equal(config.quantization_config?.bnb_4bit_quant_type, 'nf4', 'quantization_config written');
    assert.equal(
      await readFile(join(quantizedDir, 'special_tokens_map.json'), 'utf8'),
      '{"stub": true}',
      'other files copied',
    );

    const floatDir = join(dir, 'back');
    assert.equal(
      (await run(['convert', 'bnb', '--to', 'float', quantizedDir, '--out', floatDir])).code,
      0,
      'back to float',
    );
    const loaded = await loadModel(tf, floatDir);
    const ids = tinyBatch(2, 6);
    quantizeModel(tf, model);
    const diff = maxAbsDiff(logits(model, ids), logits(loaded.model as never, ids));
    assert.ok(diff <= 1e-5, `a converted-back model equals the in-process NF4 model (${diff})`);
    loaded.model.dispose();
    model.dispose();

    assert.equal(
      (await run(['convert', 'bnb', '--to', 'int8', src, '--out', join(dir, 'x')])).code,
      2,
      'bad --to is a usage error',
    );
    assert.notEqual(
      (await run(['convert', 'bnb', '--to', 'nf4', src, '--out', quantizedDir])).code,
      0,
      'non-empty output refused',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
