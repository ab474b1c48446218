import { Template } from '@huggingface/jinja';
import { PeftkitError } from '@peftkit/core';
import type { ChatBody } from './schemas.ts';

/** Used when the tokenizer has no chat_template: plain "role: content" lines, then the assistant's turn. */
export const FALLBACK_CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}" +
  '{% if add_generation_prompt %}assistant:{% endif %}';

const templates = new Map<string, Template>();

/** Renders chat messages with the model's Jinja chat template (tokenizer_config.json), as transformers does. */
export function renderChat(
  template: string | null,
  messages: ChatBody['messages'],
  tokens: { bosToken: string | null; eosToken: string | null },
): string {
  const source = template ?? FALLBACK_CHAT_TEMPLATE;
  let compiled = templates.get(source);
  try {
    if (compiled === undefined) {
      compiled = new Template(source);
      templates.set(source, compiled);
    }
    return compiled.render({
      messages: messages.map((m) => ({
        role: m.role,
        content: typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text).join(''),
      })),
      add_generation_prompt: true,
      bos_token: tokens.bosToken ?? '',
      eos_token: tokens.eosToken ?? '',
    });
  } catch (error) {
    throw new PeftkitError(
      'PEFTKIT_E_INPUT',
      `the chat template cannot render these messages: ${error instanceof Error ? error.message : String(error)}`,
      {},
    );
  }
}
