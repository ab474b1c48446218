/**
 * Per-token cost of turning generated ids into text, early (first 100 tokens) vs late (1,000 tokens).
 *
 * Usage: node --import tsx bench/detokenize.ts [--tokens 1000] [--early 100] [--reps 30] [--backend wasm]
 *        [--no-generate]
 *
 * 1. Detokenization alone, over a long id sequence of the embedded model's tokenizer (byte-level BPE; the text mixes
 *    ASCII, accented letters, CJK and emoji, so multi-byte characters span tokens), with one stop string:
 *    - `whole decode`: what generation did before — decode the whole sequence again for every token, then find
 *      the new suffix, stops and hold-back in the whole text (O(n) per token);
 *    - `incremental`: GeneratedText (IncrementalDetokenizer + tail-only stop search), what generation does now.
 * 2. A whole greedy generation of `--tokens` tokens with the embedded model (its config copied with a longer
 *    max_position_embeddings: RoPE has no learned positions), timing each step and, through a timing wrapper on
 *    the tokenizer, the decode calls inside it. The model forward grows with the context; the decode part must not.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tokenizer } from '../core/src/model/tokenizer.ts';
import { GeneratedText } from '../packages/models/src/generate/detokenize.ts';
import { BatchGenerator, type CausalLanguageModel } from '../packages/models/src/generate/generate.ts';
import { loadModel } from '../packages/models/src/model/load.ts';
import { loadTokenizer } from '../packages/models/src/tokenizers/load.ts';
import { createTensorRuntime } from '../test/support/runtime.ts';

const MOBY = fileURLToPath(new URL('../app/assets/peftkit-moby', import.meta.url));
const STOP = 'THE END';
const PARAGRAPH =
  'Call me Ishmael. Some years ago — never mind how long precisely — having little or no money in my purse, ' +
  'I thought I would sail about a little and see the watery part of the world 🐋🌊. Café, naïve, façade; ' +
  '鯨の物語 and 고래 이야기 «baleine» ½ ² ✨👍🏽. ';

function option(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? (argv[i + 1] ?? fallback) : fallback;
}

/** The text loop generation ran before: whole decode per token, search and hold-back over the whole text. */
function wholeDecodeLoop(
  tokenizer: Tokenizer,
  prompt: readonly number[],
  ids: readonly number[],
  stops: readonly string[],
  marks: number[],
): number[] {
  const promptText = tokenizer.decode(prompt);
  const generated: number[] = [];
  let emitted = '';
  const times: number[] = [];
  const start = performance.now();
  for (const id of ids) {
    generated.push(id);
    const full = tokenizer.decode([...prompt, ...generated]);
    let text = full.startsWith(promptText) ? full.slice(promptText.length) : full;
    for (const stop of stops) {
      const at = text.indexOf(stop);
      if (at !== -1) text = text.slice(0, at);
    }
    let hold = text.endsWith('\uFFFD') ? 1 : 0;
    for (const stop of stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > hold; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    const stable = text.slice(0, text.length - hold);
    if (stable.length > emitted.length) emitted = stable;
    if (marks.includes(generated.length)) times.push(performance.now() - start);
  }
  return times;
}

function incrementalLoop(
  tokenizer: Tokenizer,
  prompt: readonly number[],
  ids: readonly number[],
  stops: readonly string[],
  marks: number[],
): number[] {
  const text = new GeneratedText(tokenizer, prompt, stops);
  const times: number[] = [];
  const start = performance.now();
  for (const [i, id] of ids.entries()) {
    text.push(id, i === ids.length - 1);
    if (marks.includes(i + 1)) times.push(performance.now() - start);
  }
  return times;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const us = (ms: number) => (ms * 1000).toFixed(1);

interface Row {
  what: string;
  early: number;
  late: number;
  last: number;
}

/** Median over reps of µs per token: first `early`, all `tokens`, and the last `early` of them. */
function perToken(loop: (marks: number[]) => number[], reps: number, early: number, tokens: number): Omit<Row, 'what'> {
  const e: number[] = [];
  const l: number[] = [];
  const t: number[] = [];
  loop([early, tokens - early, tokens]); // warm-up (JIT)
  for (let r = 0; r < reps; r++) {
    const [a, b, c] = loop([early, tokens - early, tokens]) as [number, number, number];
    e.push(a / early);
    l.push(c / tokens);
    t.push((c - b) / early);
  }
  return { early: median(e), late: median(l), last: median(t) };
}

/** Tokenizer whose decode calls are timed (the detokenization share of a generation step). */
function timedTokenizer(inner: Tokenizer): Tokenizer & { decodeMs: number } {
  const timed = {
    vocabSize: inner.vocabSize,
    bosId: inner.bosId,
    eosId: inner.eosId,
    padId: inner.padId,
    decodeMs: 0,
    encode: (text: string, options?: Parameters<Tokenizer['encode']>[1]) => inner.encode(text, options),
    decode: (ids: readonly number[], options?: Parameters<Tokenizer['decode']>[1]) => {
      const start = performance.now();
      const out = inner.decode(ids, options);
      timed.decodeMs += performance.now() - start;
      return out;
    },
  };
  return timed;
}

async function generation(backend: string, tokens: number, early: number): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'peftkit-detok-bench-'));
  try {
    for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
      copyFileSync(join(MOBY, f), join(dir, f));
    const config = JSON.parse(readFileSync(join(MOBY, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: tokens + 64 }));
    const { tf } = await createTensorRuntime({ backend });
    const { model, tokenizer } = await loadModel(tf, dir);
    if (tokenizer === null) throw new Error('the embedded model has no tokenizer');
    const timed = timedTokenizer(tokenizer);
    const run = (n: number) => {
      const generator = new BatchGenerator(
        model as unknown as CausalLanguageModel,
        timed,
        [{ prompt: 'Call me Ishmael.' }],
        {
          maxTokens: n,
          temperature: 0,
          stopAtEos: false,
          stop: [STOP],
        },
      );
      const steps: number[] = [];
      const decodes: number[] = [];
      try {
        while (!generator.done) {
          const start = performance.now();
          timed.decodeMs = 0;
          generator.step();
          steps.push(performance.now() - start);
          decodes.push(timed.decodeMs);
        }
      } finally {
        generator.dispose();
      }
      return { steps, decodes };
    };
    run(8); // warm-up
    const { steps, decodes } = run(tokens);
    model.dispose();
    // The first step is the prefill: leave it out of both windows.
    const mean = (values: number[], from: number, to: number) =>
      values.slice(from, to).reduce((a, b) => a + b, 0) / (to - from);
    return [
      {
        what: `generation: decode calls (${backend})`,
        early: mean(decodes, 1, early),
        late: mean(decodes, 1, tokens),
        last: mean(decodes, tokens - early, tokens),
      },
      {
        what: `generation: whole step (${backend})`,
        early: mean(steps, 1, early),
        late: mean(steps, 1, tokens),
        last: mean(steps, tokens - early, tokens),
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const tokens = Number(option(argv, 'tokens', '1000'));
  const early = Number(option(argv, 'early', '100'));
  const reps = Number(option(argv, 'reps', '30'));
  const backend = option(argv, 'backend', 'wasm');
  const tokenizer = await loadTokenizer(MOBY);
  let text = PARAGRAPH;
  while (tokenizer.encode(text).length < tokens + 8) text += PARAGRAPH;
  const all = tokenizer.encode(text);
  const prompt = all.slice(0, 8);
  const ids = all.slice(8, 8 + tokens);
  const rows: Row[] = [
    {
      what: 'detokenize: whole decode (before)',
      ...perToken(
        (m) => wholeDecodeLoop(tokenizer, prompt, ids, [STOP], m),
        Math.max(3, Math.floor(reps / 6)),
        early,
        tokens,
      ),
    },
    {
      what: 'detokenize: incremental (now)',
      ...perToken((m) => incrementalLoop(tokenizer, prompt, ids, [STOP], m), reps, early, tokens),
    },
  ];
  if (!argv.includes('--no-generate')) rows.push(...(await generation(backend, tokens, early)));
  const header = [
    'what',
    `µs/token, first ${early}`,
    `µs/token, all ${tokens}`,
    `µs/token, last ${early}`,
    `all ${tokens} ÷ first ${early}`,
  ];
  const table = [
    header,
    ...rows.map((r) => [r.what, us(r.early), us(r.late), us(r.last), (r.late / r.early).toFixed(2)]),
  ];
  const widths = header.map((_, c) => Math.max(...table.map((row) => (row[c] as string).length)));
  const lines = table.map((row) => `| ${row.map((cell, c) => cell.padEnd(widths[c] as number)).join(' | ')} |`);
  lines.splice(1, 0, `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  console.log(lines.join('\n'));
  console.log(
    `\n${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
