import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { PeftkitError } from '@peftkit/io';
import { DATA_ERROR_CODES, type SourceLocation, dataError } from './errors.ts';
import type { ChatMessage } from './records.ts';

/** A special token in tokenizer_config.json is a string or an AddedToken object with `content`. */
function tokenText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return '';
}

/**
 * A model's chat template (Jinja, as in tokenizer_config.json) rendered with `@huggingface/jinja`. The render
 * context is what transformers passes: `messages`, `bos_token`, `eos_token`, `add_generation_prompt` (plus any
 * extra variables given at construction). `raise_exception` is built into the engine.
 */
export class ChatTemplate {
  readonly source: string;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly #template: Template;
  readonly #extra: Readonly<Record<string, unknown>>;

  constructor(source: string, tokens: { bosToken?: string; eosToken?: string; extra?: Record<string, unknown> } = {}) {
    try {
      this.#template = new Template(source);
    } catch (cause) {
      throw dataError(
        DATA_ERROR_CODES.CHAT_TEMPLATE,
        undefined,
        `the chat template does not parse: ${String(cause)}`,
        {},
        cause,
      );
    }
    this.source = source;
    this.bosToken = tokens.bosToken ?? '';
    this.eosToken = tokens.eosToken ?? '';
    this.#extra = tokens.extra ?? {};
  }

  /**
   * Builds the template from a parsed tokenizer_config.json: `chat_template` as a string, or as a list of
   * `{name, template}` (the entry `name`, default "default"). Undefined when the config has no template.
   */
  static fromTokenizerConfig(config: Readonly<Record<string, unknown>>, name = 'default'): ChatTemplate | undefined {
    const raw = config.chat_template;
    const tokens = { bosToken: tokenText(config.bos_token), eosToken: tokenText(config.eos_token) };
    if (raw === undefined || raw === null) return undefined;
    if (typeof raw === 'string') return new ChatTemplate(raw, tokens);
    if (Array.isArray(raw)) {
      const entry = raw.find((e: unknown) => (e as { name?: unknown } | null)?.name === name) as
        | { template?: unknown }
        | undefined;
      if (entry === undefined || typeof entry.template !== 'string') {
        const names = raw.map((e: unknown) => String((e as { name?: unknown } | null)?.name)).join(', ');
        throw dataError(
          DATA_ERROR_CODES.CHAT_TEMPLATE,
          undefined,
          `no chat template named "${name}" (have: ${names})`,
          { name },
        );
      }
      return new ChatTemplate(entry.template, tokens);
    }
    throw dataError(
      DATA_ERROR_CODES.CHAT_TEMPLATE,
      undefined,
      'chat_template must be a string or a list of {name, template}',
    );
  }

  /** Renders messages to text; render errors (incl. the template's own raise_exception) are coded. */
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean, where?: SourceLocation): string {
    try {
      return this.#template.render({
        ...this.#extra,
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        bos_token: this.bosToken,
        eos_token: this.eosToken,
        add_generation_prompt: addGenerationPrompt,
      });
    } catch (cause) {
      throw dataError(
        DATA_ERROR_CODES.CHAT_TEMPLATE,
        where,
        `the chat template failed: ${(cause as Error).message ?? String(cause)}`,
        {},
        cause,
      );
    }
  }
}

/**
 * Loads the chat template of a model directory: `chat_template.jinja` when present (newer transformers save it
 * there), else `chat_template` in `tokenizer_config.json`. Undefined when the model has none.
 */
export async function loadChatTemplate(
  dir: string,
  options: { name?: string } = {},
): Promise<ChatTemplate | undefined> {
  const configPath = join(dir, 'tokenizer_config.json');
  let config: Record<string, unknown> = {};
  const configText = await readText(configPath);
  if (configText !== undefined) {
    try {
      config = JSON.parse(configText) as Record<string, unknown>;
    } catch (cause) {
      throw new PeftkitError(
        DATA_ERROR_CODES.CHAT_TEMPLATE,
        `${configPath} is not valid JSON`,
        { path: configPath },
        { cause },
      );
    }
  }
  const jinja = await readText(join(dir, 'chat_template.jinja'));
  if (jinja !== undefined)
    return new ChatTemplate(jinja, { bosToken: tokenText(config.bos_token), eosToken: tokenText(config.eos_token) });
  return ChatTemplate.fromTokenizerConfig(config, options.name);
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new PeftkitError(DATA_ERROR_CODES.READ, `cannot read ${path}: ${String(error)}`, { path }, { cause: error });
  }
}
