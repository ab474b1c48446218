import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { Tf } from '../runtime/types.ts';
import type { Optimizer, OptimizerState } from './types.ts';

/** Hyper-parameters an optimizer factory receives (the learning rate comes with every `apply`). */
export interface OptimizerSettings {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly momentum: number;
}

/** Builds an Optimizer on the core's `tf`; how the loop accepts other optimizers (QLoRA's paged AdamW). */
export type OptimizerFactory = (tf: Tf, settings: OptimizerSettings) => Optimizer;

type Slots = Map<string, Variable>;

/** Slot variables keyed `${variableName}/${slot}`, created on first use or restored by loadState. */
abstract class SlotOptimizer implements Optimizer {
  abstract readonly kind: string;
  protected readonly tf: Tf;
  protected readonly slots: Slots = new Map();
  protected scalars: Record<string, number> = {};

  constructor(tf: Tf) {
    this.tf = tf;
  }

  abstract apply(variables: readonly Variable[], grads: Readonly<Record<string, Tensor>>, lr: number): void;

  protected slot(variable: Variable, name: string): Variable {
    const key = `${variable.name}/${name}`;
    const existing = this.slots.get(key);
    if (existing) {
      if (existing.shape.join(',') !== variable.shape.join(',')) {
        throw new PeftkitError(
          'PEFTKIT_E_OPTIMIZER_STATE',
          `optimizer slot '${key}' has shape [${existing.shape}], variable has [${variable.shape}]`,
          {
            slot: key,
          },
        );
      }
      return existing;
    }
    const created = this.tf.tidy(() => this.tf.variable(this.tf.zerosLike(variable), false));
    this.slots.set(key, created);
    return created;
  }

  get backendBytes(): number {
    let bytes = 0;
    for (const v of this.slots.values()) bytes += v.size * 4;
    return bytes;
  }

  state(): OptimizerState {
    const slots = new Map<string, { shape: number[]; values: Float32Array }>();
    for (const [key, v] of this.slots)
      slots.set(key, { shape: [...v.shape], values: Float32Array.from(v.dataSync() as Float32Array) });
    return { kind: this.kind, scalars: { ...this.scalars }, slots };
  }

  loadState(state: OptimizerState): void {
    if (state.kind !== this.kind) {
      throw new PeftkitError(
        'PEFTKIT_E_OPTIMIZER_STATE',
        `optimizer state is for '${state.kind}', this optimizer is '${this.kind}'`,
        {
          expected: this.kind,
          got: state.kind,
        },
      );
    }
    for (const [key, slot] of state.slots) {
      const size = slot.shape.reduce((a, b) => a * b, 1);
      if (slot.values.length !== size) {
        throw new PeftkitError(
          'PEFTKIT_E_OPTIMIZER_STATE',
          `optimizer slot '${key}' holds ${slot.values.length} values for shape [${slot.shape}]`,
          {
            slot: key,
          },
        );
      }
    }
    this.#clear();
    const tf = this.tf;
    for (const [key, slot] of state.slots)
      this.slots.set(
        key,
        tf.tidy(() => tf.variable(tf.tensor(slot.values, [...slot.shape], 'float32'), false)),
      );
    this.scalars = { ...state.scalars };
  }

  #clear(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }

  dispose(): void {
    this.#clear();
  }
}

/**
 * AdamW with torch.optim.AdamW semantics (decoupled weight decay, bias correction, eps outside the square root):
 * p ← p − lr·wd·p; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + eps).
 */
export class AdamW extends SlotOptimizer {
  readonly kind = 'adamw';
  readonly #settings: OptimizerSettings;

  constructor(tf: Tf, settings: OptimizerSettings) {
    super(tf);
    this.#settings = settings;
    this.scalars = { t: 0 };
  }

  apply(variables: readonly Variable[], grads: Readonly<Record<string, Tensor>>, lr: number): void {
    const tf = this.tf;
    const [b1, b2] = this.#settings.betas;
    const { eps, weightDecay } = this.#settings;
    const t = (this.scalars.t ?? 0) + 1;
    this.scalars.t = t;
    const correction1 = 1 - b1 ** t;
    const correction2Sqrt = Math.sqrt(1 - b2 ** t);
    for (const variable of variables) {
      const g = grads[variable.name];
      if (g === undefined) continue;
      const m = this.slot(variable, 'exp_avg');
      const v = this.slot(variable, 'exp_avg_sq');
      tf.tidy(() => {
        const mNext = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const vNext = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        m.assign(mNext);
        v.assign(vNext);
        const decayed = weightDecay === 0 ? variable : tf.mul(variable, 1 - lr * weightDecay);
        const denom = tf.add(tf.div(tf.sqrt(vNext), correction2Sqrt), eps);
        variable.assign(tf.sub(decayed, tf.mul(tf.div(mNext, denom), lr / correction1)));
      });
    }
  }
}

/**
 * SGD with torch.optim.SGD semantics (dampening 0, no Nesterov): g ← g + wd·p; buf ← g on the first step, then
 * buf ← μ·buf + g; p ← p − lr·buf (plain p ← p − lr·g when μ = 0).
 */
export class Sgd extends SlotOptimizer {
  readonly kind = 'sgd';
  readonly #settings: OptimizerSettings;

  constructor(tf: Tf, settings: OptimizerSettings) {
    super(tf);
    this.#settings = settings;
    this.scalars = { t: 0 };
  }

  apply(variables: readonly Variable[], grads: Readonly<Record<string, Tensor>>, lr: number): void {
    const tf = this.tf;
    const { momentum, weightDecay } = this.#settings;
    this.scalars.t = (this.scalars.t ?? 0) + 1;
    for (const variable of variables) {
      const g = grads[variable.name];
      if (g === undefined) continue;
      const fresh = momentum !== 0 && !this.slots.has(`${variable.name}/momentum_buffer`);
      const buffer = momentum === 0 ? null : this.slot(variable, 'momentum_buffer');
      tf.tidy(() => {
        const grad = weightDecay === 0 ? g : tf.add(g, tf.mul(variable, weightDecay));
        let direction: Tensor = grad;
        if (buffer !== null) {
          direction = fresh ? grad : tf.add(tf.mul(buffer, momentum), grad);
          buffer.assign(direction);
        }
        variable.assign(tf.sub(variable, tf.mul(direction, lr)));
      });
    }
  }
}

export function createOptimizer(
  tf: Tf,
  kind: 'adamw' | 'sgd' | OptimizerFactory,
  settings: OptimizerSettings,
): Optimizer {
  if (typeof kind === 'function') return kind(tf, settings);
  return kind === 'adamw' ? new AdamW(tf, settings) : new Sgd(tf, settings);
}
