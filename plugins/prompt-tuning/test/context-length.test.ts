import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { createTinyLlama, TINY_LLAMA_CONFIG } from '@peftkit/testing';
import promptTuning from '@peftkit/prompt-tuning';
import { generate } from '@peftkit/models';

// Virtual tokens take positions: a request that fits the context alone but not with its adapter's virtual tokens is
// refused before any decoding, with a coded error that counts them.

test('generation counts prompt-tuning virtual tokens against the context length up front', async () => {
  const kernel = await createKernel({ logger: { warn() {}, info() {} } });
  kernel.use(promptTuning);
  const model = createTinyLlama(kernel.tf, { seed: 3 });
  kernel.adapters(model).create('p', 'prompt-tuning', { num_virtual_tokens: 10 });
  const tokenizer = { vocabSize: 64, encode: () => [1], decode: (ids: readonly number[]) => ids.join(' ') };
  const max = TINY_LLAMA_CONFIG.max_position_embeddings;
  const ids = Array.from({ length: max - 20 }, (_, i) => 1 + (i % 60));
  const lm = model as unknown as Parameters<typeof generate>[0];
  const [base] = generate(lm, tokenizer, [{ ids }], { maxTokens: 20, temperature: 0 });
  assert.equal(base?.ids.length, 20, 'fits without the adapter');
  assert.throws(
    () => generate(lm, tokenizer, [{ ids, adapter: 'p' }], { maxTokens: 20, temperature: 0 }),
    (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_CONTEXT_LENGTH') && /\+ 10 virtual tokens/.test((e as Error).message),
    'refused up front, naming the virtual tokens',
  );
  const [short] = generate(lm, tokenizer, [{ ids, adapter: 'p' }], { maxTokens: 10, temperature: 0 });
  assert.equal(short?.ids.length, 10, 'fits once max_tokens leaves room for the virtual tokens');
  model.dispose();
});
