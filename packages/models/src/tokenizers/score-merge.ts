/**
 * llama2.c's merge loop: repeatedly merge the adjacent pair whose concatenation is a vocab token with the
 * highest score, the leftmost pair on ties, until no pair qualifies. llama2.c rescans the whole sequence for
 * every merge (quadratic); this keeps the candidate pairs in a heap ordered by (score desc, position asc)
 * and drops stale entries lazily, which picks the same pair at every step.
 */

/** Returns the id of the token spelled by left + right, or -1. */
export type PairLookup = (left: number, right: number) => number;

interface Candidate {
  score: number;
  left: number;
  right: number;
  leftVersion: number;
  rightVersion: number;
  merged: number;
}

// llama2.c starts its search at best_score = -1e10, so pairs scored at or below it never merge.
const SCORE_FLOOR = -1e10;

function before(a: Candidate, b: Candidate): boolean {
  return a.score > b.score || (a.score === b.score && a.left < b.left);
}

function push(heap: Candidate[], item: Candidate): void {
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent] as Candidate;
    if (!before(item, p)) break;
    heap[i] = p;
    i = parent;
  }
  heap[i] = item;
}

function pop(heap: Candidate[]): Candidate | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (top === undefined || last === undefined || heap.length === 0) return top;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= heap.length) break;
    const r = l + 1;
    const child = r < heap.length && before(heap[r] as Candidate, heap[l] as Candidate) ? r : l;
    if (!before(heap[child] as Candidate, last)) break;
    heap[i] = heap[child] as Candidate;
    i = child;
  }
  heap[i] = last;
  return top;
}

export function mergeByScore(initial: readonly number[], lookup: PairLookup, scores: ArrayLike<number>): number[] {
  const n = initial.length;
  const ids = Int32Array.from(initial);
  // Doubly linked list over the original positions; positions keep their left-to-right order after merges.
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const version = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap: Candidate[] = [];
  const consider = (left: number, right: number): void => {
    if (left < 0 || right < 0) return;
    const merged = lookup(ids[left] as number, ids[right] as number);
    if (merged < 0) return;
    const score = scores[merged] as number;
    if (!(score > SCORE_FLOOR)) return;
    push(heap, {
      score,
      left,
      right,
      leftVersion: version[left] as number,
      rightVersion: version[right] as number,
      merged,
    });
  };
  for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
  for (let c = pop(heap); c !== undefined; c = pop(heap)) {
    // Stale: one side was merged into something else (or away) since this candidate was queued.
    if (version[c.left] !== c.leftVersion || version[c.right] !== c.rightVersion || next[c.left] !== c.right) continue;
    ids[c.left] = c.merged;
    version[c.left] = (version[c.left] as number) + 1;
    version[c.right] = -1;
    const after = next[c.right] as number;
    next[c.left] = after;
    if (after >= 0) prev[after] = c.left;
    consider(prev[c.left] as number, c.left);
    consider(c.left, after);
  }
  const out: number[] = [];
  for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i] as number) out.push(ids[i] as number);
  return out;
}
