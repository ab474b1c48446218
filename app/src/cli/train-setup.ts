import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelGraph } from '@peftkit/core';
import { ChatTemplate, loadChatTemplate } from '@peftkit/data';
import { PeftkitError } from '@peftkit/io';
import { saveModel } from '@peftkit/models';

/** Chat templates `--chat-template <name>` knows without a file (both render conversations prefix-consistently). */
export const BUILTIN_CHAT_TEMPLATES: Readonly<Record<string, string>> = {
  // ChatML (Qwen, SmolLM-Instruct, …)
  chatml:
    '{% for message in messages %}' +
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  // role-prefixed lines, for small models whose vocabulary has no chat tokens (the embedded model)
  plain:
    "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}",
};

/**
 * The chat template for training data: `--chat-template` (a builtin name, a .jinja file, or a tokenizer_config.json
 * holding `chat_template`), else the model directory's own (undefined when it has none).
 */
export async function resolveChatTemplate(
  option: string | undefined,
  modelDir: string,
): Promise<ChatTemplate | undefined> {
  if (option === undefined) return loadChatTemplate(modelDir);
  const builtin = BUILTIN_CHAT_TEMPLATES[option];
  if (builtin !== undefined) return new ChatTemplate(builtin);
  let text: string;
  try {
    text = await readFile(option, 'utf8');
  } catch (error) {
    const names = Object.keys(BUILTIN_CHAT_TEMPLATES).join(', ');
    throw new PeftkitError(
      'PEFTKIT_E_USAGE',
      `train: --chat-template '${option}' is neither a builtin (${names}) ` +
        `nor a readable file: ${(error as Error).message}`,
      {
        option: 'chat-template',
      },
    );
  }
  if (!option.endsWith('.json')) return new ChatTemplate(text);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new PeftkitError(
      'PEFTKIT_E_USAGE',
      `train: --chat-template file '${option}' is not valid JSON: ${(error as Error).message}`,
      {
        option: 'chat-template',
      },
    );
  }
  const template = ChatTemplate.fromTokenizerConfig(config);
  if (template === undefined)
    throw new PeftkitError('PEFTKIT_E_USAGE', `train: '${option}' has no "chat_template"`, { option: 'chat-template' });
  return template;
}

/**
 * What saved adapters name as their base (PEFT's base_model_name_or_path): the `_name_or_path` a transformers-saved
 * config.json records (a Hub id), else the model directory as given.
 */
export function baseModelName(modelDir: string, config: Readonly<Record<string, unknown>>): string {
  const recorded = config._name_or_path;
  if (typeof recorded === 'string' && recorded.trim() !== '') return recorded;
  return modelDir.replace(/[\\/]+$/, '') || modelDir;
}

/** Files besides weights and config.json that make a model directory usable on its own (tokenizer, chat template). */
const MODEL_SIDE_FILES: ReadonlySet<string> = new Set([
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'vocab.txt',
  'tokenizer.model',
  'chat_template.jinja',
]);

/**
 * Completes the output of full fine-tuning into a Hugging Face model directory (config.json, every weight in
 * model.safetensors, the base's tokenizer files), so `generate --model <out>`, `serve`, `inspect` and transformers
 * load it like any model: the trained weights live in the base itself, there is nothing to merge.
 */
export async function writeFullModelDir(
  model: ModelGraph,
  out: string,
  source: { dir: string; config: Record<string, unknown>; generationConfig: Record<string, unknown> | null },
): Promise<string[]> {
  const files: Record<string, Uint8Array> = {};
  for (const name of await readdir(source.dir)) {
    if (MODEL_SIDE_FILES.has(name)) files[name] = new Uint8Array(await readFile(join(source.dir, name)));
  }
  // the weights written are float, whatever the source was (a bnb 4-bit directory is dequantized on load)
  const { quantization_config: _quantized, ...config } = source.config;
  const written = await saveModel(model, out, {
    config,
    tokenizerFiles: files,
    generationConfig: source.generationConfig,
  });
  return written.files;
}
