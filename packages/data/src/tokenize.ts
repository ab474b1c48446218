import type { Tokenizer } from '@peftkit/core';
import { IGNORE_INDEX, type TrainExample } from '@peftkit/core/train';
import type { ChatTemplate } from './chat-template.ts';
import { DATA_ERROR_CODES, type SourceLocation, dataError } from './errors.ts';
import { labelIndex } from './labels.ts';
import { commonPrefixLength, tokenBoundaries } from './prefix.ts';
import type { ChatMessage, DataRecord } from './records.ts';

export interface TokenizeOptions {
  readonly tokenizer: Tokenizer;
  /** Longest example in tokens. */
  readonly maxLength: number;
  /** Cut examples longer than maxLength (default true); when false they are PEFTKIT_E_DATA_TOO_LONG. */
  readonly truncation?: boolean | undefined;
  /** Append EOS to `{text}` examples (default true). Completions always get EOS when the tokenizer has one. */
  readonly appendEos?: boolean | undefined;
  /** Required for `{messages}` records. */
  readonly chatTemplate?: ChatTemplate | undefined;
  /** Label names for `{text, label}` records (see resolveLabelNames). */
  readonly labelNames?: readonly string[] | undefined;
  /** Packing cuts blocks later, so `{text}` examples are not truncated here. */
  readonly skipTruncation?: boolean | undefined;
}

/** What tokenizing one record gave: the example, or undefined when nothing trainable was left after truncation. */
export interface TokenizedRecord {
  readonly example: TrainExample | undefined;
  readonly truncated: boolean;
}

function tooLong(where: SourceLocation, length: number, maxLength: number): never {
  throw dataError(
    DATA_ERROR_CODES.TOO_LONG,
    where,
    `example has ${length} tokens, more than maxLength ${maxLength}, and truncation is off`,
    {
      length,
      maxLength,
    },
  );
}

const hasLoss = (labels: readonly number[]): boolean => labels.slice(1).some((l) => l !== IGNORE_INDEX);

/**
 * Tokenizes one record into a TrainExample with transformers-style aligned labels:
 * - text: loss on every token; BOS as the tokenizer's default, EOS appended (appendEos);
 * - completion: loss on completion tokens + EOS only; the prompt/completion token boundary is the common prefix
 *   of encode(prompt) and encode(prompt + completion), so a token merging across the seam counts as completion;
 * - chat: the conversation is rendered with the chat template and encoded without added BOS/EOS (the template
 *   writes them); loss only on assistant turns (see chatLabels);
 * - classification: ids of the text (BOS as default, no EOS) and the class index.
 * Truncation keeps the start, except completion, which keeps the completion (see truncateCompletion).
 */
export function tokenizeRecord(record: DataRecord, options: TokenizeOptions): TokenizedRecord {
  const { tokenizer, maxLength } = options;
  const truncation = options.truncation ?? true;
  const eos = tokenizer.eosId === undefined ? [] : [tokenizer.eosId];
  const cut = (ids: number[]): { ids: number[]; truncated: boolean } => {
    if (ids.length <= maxLength || options.skipTruncation) return { ids, truncated: false };
    if (!truncation) tooLong(record.source, ids.length, maxLength);
    return { ids: ids.slice(0, maxLength), truncated: true };
  };
  switch (record.format) {
    case 'text': {
      const full = [...tokenizer.encode(record.text, { eos: false }), ...((options.appendEos ?? true) ? eos : [])];
      const { ids, truncated } = cut(full);
      return { example: ids.length < 2 ? undefined : { ids, labels: ids }, truncated };
    }
    case 'classification': {
      if (options.labelNames === undefined)
        throw dataError(DATA_ERROR_CODES.OPTIONS, record.source, 'classification needs label names');
      const label = labelIndex(record.label, options.labelNames, record.source);
      const { ids, truncated } = cut(tokenizer.encode(record.text, { eos: false }));
      return { example: ids.length === 0 ? undefined : { ids, label }, truncated };
    }
    case 'completion': {
      const full = tokenizer.encode(record.prompt + record.completion, { eos: false });
      const promptLength = commonPrefixLength(tokenizer.encode(record.prompt, { eos: false }), full);
      const prompt = full.slice(0, promptLength);
      const completion = [...full.slice(promptLength), ...eos];
      if (prompt.length + completion.length > maxLength && !truncation)
        tooLong(record.source, prompt.length + completion.length, maxLength);
      const kept = truncateCompletion(prompt, completion, maxLength, tokenizer.bosId);
      const ids = [...kept.prompt, ...kept.completion];
      const labels = [...kept.prompt.map(() => IGNORE_INDEX), ...kept.completion];
      return { example: hasLoss(labels) ? { ids, labels } : undefined, truncated: kept.truncated };
    }
    case 'chat': {
      if (options.chatTemplate === undefined) {
        throw dataError(
          DATA_ERROR_CODES.CHAT_TEMPLATE,
          record.source,
          'chat records need a chat template (the model has none; pass one: peftkit train --chat-template ' +
            '<file.jinja | chatml | plain>)',
        );
      }
      const chat = chatLabels(record.messages, options.chatTemplate, tokenizer, record.source);
      const { ids, truncated } = cut(chat.ids);
      const labels = truncated ? chat.labels.slice(0, ids.length) : chat.labels;
      return { example: hasLoss(labels) ? { ids, labels } : undefined, truncated };
    }
  }
}

/**
 * Fits prompt + completion into maxLength keeping the completion where possible: the prompt loses tokens from its
 * start (its BOS is kept) but keeps at least min(prompt length, ceil(maxLength / 2)) tokens; whatever still does
 * not fit is cut from the completion's end (its EOS is then lost).
 */
export function truncateCompletion(
  prompt: readonly number[],
  completion: readonly number[],
  maxLength: number,
  bosId?: number,
): { prompt: number[]; completion: number[]; truncated: boolean } {
  if (prompt.length + completion.length <= maxLength)
    return { prompt: [...prompt], completion: [...completion], truncated: false };
  const minPrompt = Math.min(prompt.length, Math.ceil(maxLength / 2));
  const keepPrompt = Math.min(prompt.length, Math.max(minPrompt, maxLength - completion.length));
  const keepsBos = bosId !== undefined && prompt[0] === bosId && keepPrompt > 0 && keepPrompt < prompt.length;
  const tail = keepsBos ? keepPrompt - 1 : keepPrompt;
  const kept = [...(keepsBos ? [bosId] : []), ...prompt.slice(prompt.length - tail)];
  return { prompt: kept, completion: completion.slice(0, maxLength - kept.length), truncated: true };
}

/**
 * Renders a conversation and marks the assistant turns. For assistant message i, the turn starts where the
 * rendering of messages[0..i) with add_generation_prompt ends, and ends where the rendering of messages[0..i]
 * ends; both renderings must be prefixes of the full rendering (true of ChatML, Llama-2/3, Zephyr, Mistral …;
 * templates that rewrite earlier turns, e.g. dropping past reasoning, are rejected with a coded error). Character
 * offsets become token boundaries by encoding the prefix (tokenBoundaries). The turn's end markup (e.g.
 * `<|im_end|>`) is trained on, so the model learns to stop.
 */
export function chatLabels(
  messages: readonly ChatMessage[],
  template: ChatTemplate,
  tokenizer: Tokenizer,
  where?: SourceLocation,
): { text: string; ids: number[]; labels: number[] } {
  const text = template.render(messages, false, where);
  const spans: [number, number][] = [];
  messages.forEach((message, i) => {
    if (message.role !== 'assistant') return;
    const start = template.render(messages.slice(0, i), true, where);
    const end = template.render(messages.slice(0, i + 1), false, where);
    if (!text.startsWith(start) || !text.startsWith(end) || start.length > end.length) {
      throw dataError(
        DATA_ERROR_CODES.CHAT_TEMPLATE,
        where,
        `the chat template does not render message ${i} as a prefix of the whole conversation; ` +
          'cannot find the assistant turn',
        {
          message: i,
        },
      );
    }
    spans.push([start.length, end.length]);
  });
  if (spans.length === 0)
    throw dataError(DATA_ERROR_CODES.FIELD, where, 'the conversation has no assistant message to train on', {
      field: 'messages',
    });
  const ids = tokenizer.encode(text, { bos: false, eos: false });
  const labels = ids.map(() => IGNORE_INDEX);
  const bounds = tokenBoundaries(tokenizer, text, ids, spans.flat());
  for (let s = 0; s < spans.length; s++) {
    for (let t = bounds[2 * s] as number; t < (bounds[2 * s + 1] as number); t++) labels[t] = ids[t] as number;
  }
  return { text, ids, labels };
}
