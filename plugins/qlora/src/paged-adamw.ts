import { PeftkitError, type Tf } from '@peftkit/core';
import type { Optimizer, OptimizerState } from '@peftkit/core/train';
import { SpillStore } from './spill-store.ts';

type Tensor = ReturnType<Tf['tensor']>;
type Variable = ReturnType<Tf['variable']>;

export interface PagedAdamWSettings {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
}

export interface PagingOptions {
  /**
   * Host bytes the moments may occupy; least-recently-updated variables' moments spill to files and are paged back
   * before their update (one variable's moments are always resident during its update). Default: unbounded.
   */
  readonly budgetBytes?: number;
  /** Directory for spilled moments (default: a fresh temporary directory, removed by dispose). */
  readonly spillDir?: string;
}

interface HostSlot {
  readonly shape: number[];
  readonly size: number;
  /** exp_avg and exp_avg_sq, or null while spilled. */
  moments: { m: Float32Array; v: Float32Array } | null;
}

const SLOT_NAMES = ['exp_avg', 'exp_avg_sq'] as const;

function stateError(message: string, details: Record<string, unknown>): PeftkitError {
  return new PeftkitError('PEFTKIT_E_OPTIMIZER_STATE', message, details);
}

/**
 * AdamW (torch.optim.AdamW semantics, the same tensor ops as the core's AdamW) whose moments live in host
 * Float32Arrays, off the tensor backend: each variable's m and v are uploaded for its update and written back, so
 * the backend holds at most one variable's state at a time (backendBytes is 0 between steps). With a byte budget,
 * least-recently-updated moments spill to files and are paged back before their update (same results).
 * p ← p − lr·wd·p; m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²; p ← p − lr·(m/(1−β1ᵗ))/(√(v/(1−β2ᵗ)) + eps).
 */
export class PagedAdamW implements Optimizer {
  readonly kind = 'paged_adamw';
  readonly #tf: Tf;
  readonly #settings: PagedAdamWSettings;
  /** Insertion order is recency: a slot is moved to the end when updated, evictions take the front. */
  readonly #slots = new Map<string, HostSlot>();
  readonly #budget: number;
  readonly #store: SpillStore;
  #t = 0;
  #resident = 0;
  #peak = 0;

  constructor(tf: Tf, settings: PagedAdamWSettings, paging: PagingOptions = {}) {
    const budget = paging.budgetBytes ?? Number.POSITIVE_INFINITY;
    if (!(budget >= 0))
      throw stateError(`budgetBytes must be a non-negative number, got ${budget}`, { budgetBytes: budget });
    this.#tf = tf;
    this.#settings = settings;
    this.#budget = budget;
    this.#store = new SpillStore(paging.spillDir);
  }

  /** Makes a slot resident (reading it back from its file if spilled) and most recently used. */
  #pageIn(name: string, slot: HostSlot): { m: Float32Array; v: Float32Array } {
    this.#slots.delete(name);
    this.#slots.set(name, slot);
    if (slot.moments === null) {
      const both = this.#store.read(name, 2 * slot.size);
      this.#store.remove(name);
      slot.moments = { m: both.slice(0, slot.size), v: both.slice(slot.size) };
      this.#resident += 8 * slot.size;
      this.#peak = Math.max(this.#peak, this.#resident);
    }
    return slot.moments;
  }

  /** Spills least-recently-used slots (never `keep`) until the resident moments fit the budget. */
  #evict(keep: string | null): void {
    for (const [name, slot] of this.#slots) {
      if (this.#resident <= this.#budget) return;
      if (name === keep || slot.moments === null) continue;
      const both = new Float32Array(2 * slot.size);
      both.set(slot.moments.m);
      both.set(slot.moments.v, slot.size);
      this.#store.write(name, both);
      slot.moments = null;
      this.#resident -= 8 * slot.size;
    }
  }

  #slot(variable: Variable): { m: Float32Array; v: Float32Array } {
    const existing = this.#slots.get(variable.name);
    if (existing) {
      if (existing.shape.join(',') !== variable.shape.join(',')) {
        throw stateError(
          `optimizer state of '${variable.name}' has shape [${existing.shape}], the variable has [${variable.shape}]`,
          { slot: variable.name },
        );
      }
      const moments = this.#pageIn(variable.name, existing);
      this.#evict(variable.name);
      return moments;
    }
    const created: HostSlot = {
      shape: [...variable.shape],
      size: variable.size,
      moments: { m: new Float32Array(variable.size), v: new Float32Array(variable.size) },
    };
    this.#slots.set(variable.name, created);
    this.#resident += 8 * variable.size;
    this.#peak = Math.max(this.#peak, this.#resident);
    this.#evict(variable.name);
    return created.moments as { m: Float32Array; v: Float32Array };
  }

  apply(variables: readonly Variable[], grads: Readonly<Record<string, Tensor>>, lr: number): void {
    const tf = this.#tf;
    const [b1, b2] = this.#settings.betas;
    const { eps, weightDecay } = this.#settings;
    this.#t += 1;
    const correction1 = 1 - b1 ** this.#t;
    const correction2Sqrt = Math.sqrt(1 - b2 ** this.#t);
    for (const variable of variables) {
      const g = grads[variable.name];
      if (g === undefined) continue;
      const slot = this.#slot(variable);
      tf.tidy(() => {
        // Copies: the cpu backend may keep a reference to the array it was given.
        const m = tf.tensor(slot.m.slice(), variable.shape, 'float32');
        const v = tf.tensor(slot.v.slice(), variable.shape, 'float32');
        const mNext = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const vNext = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        const decayed = weightDecay === 0 ? variable : tf.mul(variable, 1 - lr * weightDecay);
        const denom = tf.add(tf.div(tf.sqrt(vNext), correction2Sqrt), eps);
        variable.assign(tf.sub(decayed, tf.mul(tf.div(mNext, denom), lr / correction1)));
        slot.m.set(mNext.dataSync() as Float32Array);
        slot.v.set(vNext.dataSync() as Float32Array);
      });
    }
  }

  /** Host bytes of the resident moments (what the backend is spared). */
  get hostBytes(): number {
    return this.#resident;
  }

  /** The most host bytes the moments ever occupied (at most the budget plus one variable's moments). */
  get peakHostBytes(): number {
    return this.#peak;
  }

  /** Bytes of moments currently spilled to files. */
  get spilledBytes(): number {
    let bytes = 0;
    for (const s of this.#slots.values()) if (s.moments === null) bytes += 8 * s.size;
    return bytes;
  }

  get backendBytes(): number {
    return 0;
  }

  state(): OptimizerState {
    const slots = new Map<string, { shape: number[]; values: Float32Array }>();
    for (const [name, s] of this.#slots) {
      // Spilled slots are read into copies without becoming resident.
      const both = s.moments === null ? this.#store.read(name, 2 * s.size) : null;
      slots.set(`${name}/exp_avg`, {
        shape: [...s.shape],
        values: both ? both.slice(0, s.size) : (s.moments?.m.slice() as Float32Array),
      });
      slots.set(`${name}/exp_avg_sq`, {
        shape: [...s.shape],
        values: both ? both.slice(s.size) : (s.moments?.v.slice() as Float32Array),
      });
    }
    return { kind: this.kind, scalars: { t: this.#t }, slots };
  }

  /**
   * Accepts its own state and the core AdamW's ('adamw': same slots and step count), validated before anything changes.
   */
  loadState(state: OptimizerState): void {
    if (state.kind !== this.kind && state.kind !== 'adamw') {
      throw stateError(`optimizer state is for '${state.kind}', this optimizer is '${this.kind}'`, {
        expected: this.kind,
        got: state.kind,
      });
    }
    const t = state.scalars.t ?? 0;
    if (!Number.isInteger(t) || t < 0)
      throw stateError(`optimizer step count must be a non-negative integer, got ${t}`, { t });
    const next = new Map<string, { shape: number[]; m: Float32Array; v: Float32Array }>();
    for (const [key, slot] of state.slots) {
      const cut = key.lastIndexOf('/');
      const name = key.slice(0, cut);
      const kind = key.slice(cut + 1);
      const size = slot.shape.reduce((a, b) => a * b, 1);
      if (cut <= 0 || !(SLOT_NAMES as readonly string[]).includes(kind) || slot.values.length !== size) {
        throw stateError(`optimizer slot '${key}' is not an AdamW slot of shape [${slot.shape}]`, { slot: key });
      }
      const entry = next.get(name) ?? { shape: [...slot.shape], m: new Float32Array(size), v: new Float32Array(size) };
      if (entry.shape.join(',') !== slot.shape.join(','))
        throw stateError(`optimizer slots of '${name}' disagree on their shape`, { slot: key });
      (kind === 'exp_avg' ? entry.m : entry.v).set(slot.values);
      next.set(name, entry);
    }
    this.#clear();
    for (const [name, entry] of next) {
      this.#slots.set(name, { shape: entry.shape, size: entry.m.length, moments: { m: entry.m, v: entry.v } });
      this.#resident += 8 * entry.m.length;
      this.#evict(name);
    }
    this.#peak = Math.max(this.#peak, this.#resident);
    this.#t = t;
  }

  #clear(): void {
    for (const [name, slot] of this.#slots) if (slot.moments === null) this.#store.remove(name);
    this.#slots.clear();
    this.#resident = 0;
  }

  /** Drops every moment and removes the spill files (and the temporary directory it created). */
  dispose(): void {
    this.#clear();
    this.#store.dispose();
  }
}

/** An optimizer factory for the training options: `optimizer: pagedAdamW({ budgetBytes })`. */
export function pagedAdamW(paging: PagingOptions = {}): (tf: Tf, settings: PagedAdamWSettings) => PagedAdamW {
  return (tf, settings) => new PagedAdamW(tf, settings, paging);
}
