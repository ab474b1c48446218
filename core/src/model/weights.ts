import type { Variable } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { Tf } from '../runtime/types.ts';
import type { Rng } from '../util/rng.ts';

/** Float32 host arrays by Hugging Face tensor name: what checkpoint readers produce and models consume. */
export type HostTensors = Map<string, { shape: number[]; values: Float32Array }>;

/** Where a model's base weights come from: a checkpoint, or seeded random init (tests, pretraining). */
export type WeightSource = { kind: 'tensors'; tensors: HostTensors } | { kind: 'random'; rng: Rng; std?: number };

/** Creates frozen base variables by name, checking presence and shape; random init draws N(0, std) or ones. */
export class WeightLoader {
  readonly #tf: Tf;
  readonly #source: WeightSource;
  readonly #used = new Set<string>();
  readonly created: Map<string, Variable> = new Map<string, Variable>();

  constructor(tf: Tf, source: WeightSource) {
    this.#tf = tf;
    this.#source = source;
  }

  /** `init` applies to random weights only: 'normal' (std 0.02 unless given), 'ones' or 'zeros'. */
  take(name: string, shape: number[], init: 'normal' | 'ones' | 'zeros' = 'normal'): Variable {
    return this.variableFrom(name, this.takeHost(name, shape, init), shape);
  }

  /**
   * The values of `name` as a host array, checked like `take` but never put on the tensor backend — for bases that
   * keep their weights elsewhere (QLoRA's packed 4-bit weights quantized at load time).
   */
  takeHost(name: string, shape: number[], init: 'normal' | 'ones' | 'zeros' = 'normal'): Float32Array {
    const size = shape.reduce((a, b) => a * b, 1);
    if (this.#source.kind === 'tensors') {
      const entry = this.#source.tensors.get(name);
      if (entry === undefined) {
        throw new PeftkitError('PEFTKIT_E_MODEL_MISSING_TENSOR', `checkpoint has no tensor '${name}'`, {
          tensor: name,
        });
      }
      if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
        throw new PeftkitError(
          'PEFTKIT_E_MODEL_TENSOR_SHAPE',
          `tensor '${name}' has shape [${entry.shape}], expected [${shape}]`,
          {
            tensor: name,
            shape: entry.shape,
            expected: shape,
          },
        );
      }
      this.#used.add(name);
      return entry.values;
    }
    if (init === 'normal') return this.#source.rng.normalArray(size, 0, this.#source.std ?? 0.02);
    return new Float32Array(size).fill(init === 'ones' ? 1 : 0);
  }

  /** A frozen base variable holding `values`, owned (and listed) by the model. */
  variableFrom(name: string, values: Float32Array, shape: number[]): Variable {
    // Variable names are process-global in tfjs, so none is given: several models may coexist.
    const initial = this.#tf.tensor(values, shape);
    const variable = this.#tf.variable(initial, false);
    initial.dispose();
    this.created.set(name, variable);
    return variable;
  }

  /** LayerNorm affine parameters `<name>.weight` (ones) and `<name>.bias` (zeros when random). */
  takeLayerNorm(name: string, dim: number): { weight: Variable; bias: Variable } {
    return { weight: this.take(`${name}.weight`, [dim], 'ones'), bias: this.take(`${name}.bias`, [dim], 'zeros') };
  }

  has(name: string): boolean {
    return this.#source.kind === 'tensors' && this.#source.tensors.has(name);
  }

  /** Names present in the checkpoint that the model did not use (reported, not fatal: e.g. rotary caches). */
  unused(): string[] {
    if (this.#source.kind !== 'tensors') return [];
    return [...this.#source.tensors.keys()].filter((n) => !this.#used.has(n));
  }

  /** Frees everything created so far (used when construction fails half-way). */
  disposeAll(): void {
    for (const v of this.created.values()) v.dispose();
    this.created.clear();
  }
}
