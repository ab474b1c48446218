import { type LinearBase, PeftkitError, type Tf } from '@peftkit/core';
import { dequantize4, type Quantize4Options, type Quantized4, quantize4, quantizedBytes } from './blockwise4.ts';

type Tensor2D = ReturnType<Tf['tensor2d']>;
type Variable = ReturnType<Tf['variable']>;

function shapeError(shape: readonly number[], base: LinearBase): PeftkitError {
  return new PeftkitError(
    'PEFTKIT_E_QLORA_SHAPE',
    `a weight of shape [${shape}] does not fit a ${base.outFeatures}×${base.inFeatures} linear`,
    {
      shape,
      expected: [base.outFeatures, base.inFeatures],
    },
  );
}

/**
 * A frozen linear base whose weight lives PACKED in ordinary JS memory (a Uint8Array, off the tensor backend, whose
 * wasm heap has a 4 GiB ceiling and never shrinks). The weight is kept in torch Linear's [out, in] layout whatever the
 * checkpoint layout was. `forward` dequantizes into a temporary tensor right before the matmul and frees it right
 * after; its gradient re-dequantizes W for dx = dy·W, so backward never holds every layer's float weight at once.
 */
export class QuantizedLinearBase implements LinearBase {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: Variable | null;
  readonly #tf: Tf;
  #state: Quantized4;

  constructor(tf: Tf, state: Quantized4, bias: Variable | null) {
    const [out, inFeatures] = state.shape as [number, number];
    this.#tf = tf;
    this.#state = state;
    this.outFeatures = out;
    this.inFeatures = inFeatures;
    this.bias = bias;
  }

  /** Quantizes an [out, in] float32 weight. */
  static fromWeight(
    tf: Tf,
    weightOutIn: Float32Array,
    shape: readonly [number, number],
    options: Quantize4Options,
    bias: Variable | null,
  ): QuantizedLinearBase {
    return new QuantizedLinearBase(tf, quantize4(weightOutIn, shape, options), bias);
  }

  /** The packed state (immutable; merge replaces it, so holding the old object is a free snapshot). */
  get state(): Quantized4 {
    return this.#state;
  }

  /** Replaces the packed state (restoring a snapshot); the shape must not change. */
  setState(state: Quantized4): void {
    if (state.shape[0] !== this.outFeatures || state.shape[1] !== this.inFeatures) {
      throw shapeError(state.shape, this);
    }
    this.#state = state;
  }

  get options(): Quantize4Options {
    const s = this.#state;
    return { quantType: s.quantType, blockSize: s.blockSize, doubleQuant: !(s.absmax instanceof Float32Array) };
  }

  /** A new tensor with the dequantized [out, in] weight (the caller disposes it). */
  #dequantized(): Tensor2D {
    return this.#tf.tensor2d(dequantize4(this.#state), [this.outFeatures, this.inFeatures], 'float32');
  }

  forward(x: Tensor2D): Tensor2D {
    const tf = this.#tf;
    const matmul = tf.customGrad((...inputs) => {
      const input = inputs[0] as Tensor2D;
      const w = this.#dequantized();
      const value = tf.matMul(input, w, false, true);
      w.dispose();
      return {
        value,
        // The base is frozen: only dx, from a freshly dequantized W that is freed at once.
        gradFunc: (dy) => {
          const again = this.#dequantized();
          const dx = tf.matMul(dy as Tensor2D, again);
          again.dispose();
          return dx;
        },
      };
    });
    const y = matmul(x) as Tensor2D;
    if (this.bias === null) return y;
    const out = tf.add(y, this.bias) as Tensor2D;
    y.dispose();
    return out;
  }

  weightOutIn(): Tensor2D {
    return this.#dequantized();
  }

  /** Requantizes from an [out, in] weight with the same settings (lossy: merge = dequantize → add → requantize). */
  assignOutIn(weight: Tensor2D): void {
    const [out, inFeatures] = weight.shape;
    if (out !== this.outFeatures || inFeatures !== this.inFeatures) {
      throw shapeError(weight.shape, this);
    }
    this.#state = quantize4(Float32Array.from(weight.dataSync() as Float32Array), [out, inFeatures], this.options);
  }

  /** The base trains nothing but its bias under full fine-tuning (the packed weight is not differentiable). */
  get variables(): Variable[] {
    return this.bias === null ? [] : [this.bias];
  }

  /** Packed codes + block scales + float32 bias, all but the bias outside the tensor backend. */
  get byteSize(): number {
    return quantizedBytes(this.#state) + 4 * (this.bias?.size ?? 0);
  }

  dispose(): void {
    this.bias?.dispose();
  }
}
