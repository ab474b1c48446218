/**
 * Test fixture: the real stories260K Llama converted to a temporary Hugging Face directory (with a chat template
 * added), and an adapter root holding LoRA adapters saved through the AdapterManager.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeAdapterDir, disposeSaved } from '@peftkit/core';
import { createTestKernel as createKernel } from '@peftkit/testing';
import { loadModel } from '@peftkit/models';
import lora from '@peftkit/lora';
import { convertLlama2cFiles } from '@peftkit/models';

// Vendored in the repository (test/fixtures/stories260K, MIT), so a fresh clone runs every server test.
const STORIES = new URL('../../test/fixtures/stories260K/', import.meta.url);
export const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}" +
  '{% if add_generation_prompt %}assistant:{% endif %}';

export interface Fixture {
  modelDir: string;
  adapterRoot: string;
  /** Writes (or overwrites) a LoRA adapter directory under the root; distinct seeds give distinct adapters. */
  writeLora(name: string, seed: number, options?: { r?: number }): Promise<void>;
  /** Writes an adapter of any registered method (the plugin must be installed). */
  writeAdapter(name: string, method: string, config: Record<string, unknown>, seed: number): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createFixture(adapters: Record<string, number> = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'peftkit-server-'));
  const modelDir = join(dir, 'model');
  const adapterRoot = join(dir, 'adapters');
  await mkdir(adapterRoot, { recursive: true });
  await convertLlama2cFiles(
    fileURLToPath(new URL('stories260K.bin', STORIES)),
    fileURLToPath(new URL('tok512.bin', STORIES)),
    modelDir,
  );
  const tokConfigPath = join(modelDir, 'tokenizer_config.json');
  const tokConfig = JSON.parse(await readFile(tokConfigPath, 'utf8')) as Record<string, unknown>;
  await writeFile(tokConfigPath, JSON.stringify({ ...tokConfig, chat_template: CHAT_TEMPLATE }, null, 2));

  const kernel = await createKernel({ plugins: [lora], logger: { warn() {}, info() {} } });
  const { model, tokenizer } = await loadModel(kernel.tf, modelDir);
  const manager = tokenizer ? kernel.adapters(model, { tokenizer }) : kernel.adapters(model);
  const writeAdapter = async (name: string, method: string, config: Record<string, unknown>, seed: number) => {
    if (!kernel.registry.has(method)) await kernel.import(`@peftkit/${method}`);
    manager.create('tmp', method, config, { seed });
    const saved = manager.save('tmp');
    try {
      await writeAdapterDir(join(adapterRoot, name), saved);
    } finally {
      disposeSaved(saved);
      manager.delete('tmp');
    }
  };
  const writeLora = async (name: string, seed: number, options: { r?: number } = {}) => {
    const r = options.r ?? 4;
    const config = {
      r,
      lora_alpha: 16 * r,
      init_lora_weights: false,
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'],
    };
    manager.create('tmp', 'lora', config, { seed });
    const saved = manager.save('tmp');
    try {
      await writeAdapterDir(join(adapterRoot, name), saved);
    } finally {
      disposeSaved(saved);
      manager.delete('tmp');
    }
  };
  for (const [name, seed] of Object.entries(adapters)) await writeLora(name, seed);
  return {
    modelDir,
    adapterRoot,
    writeLora,
    writeAdapter,
    async cleanup() {
      model.dispose();
      await kernel.dispose();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Greedy sampling settings for engine-level calls. */
export const GREEDY = {
  maxTokens: 12,
  temperature: 0,
  topK: 0,
  topP: 1,
  repetitionPenalty: 1,
  stop: [] as string[],
  seed: 0,
};

export interface Requester {
  request(input: string, init?: RequestInit): Response | Promise<Response>;
}

/** Sends a JSON request through Hono's in-memory fetch and parses the answer. */
export async function call(
  app: Requester,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  // biome-ignore lint/suspicious/noExplicitAny: tests probe answer JSON structurally
): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const init: RequestInit = { method, headers: { 'content-type': 'application/json', ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await app.request(path, init);
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: tests probe answer JSON structurally
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** The `data:` payloads of an SSE body. */
export function sseData(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trim());
}
