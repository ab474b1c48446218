import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';
import type { Tf } from '../types.ts';

/** The gradient map a GradFunc returns: one lazy thunk per kernel input name. */
export type GradMap = ReturnType<GradConfig['gradFunc']>;

/** Single-output kernels receive one dy; multi-output kernels an array (a 1-output split also gets one). */
export function single(dy: Tensor | Tensor[]): Tensor {
  if (!Array.isArray(dy)) return dy;
  const first = dy[0];
  if (first === undefined || dy.length !== 1) throw new Error(`expected one upstream gradient, got ${dy.length}`);
  return first;
}

export function many(dy: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(dy) ? dy : [dy];
}

/** saved[i] with a clear error instead of `undefined` flowing into ops. */
export function savedAt(saved: Tensor[], i: number): Tensor {
  const t = saved[i];
  if (t === undefined) throw new Error(`gradient expected saved tensor #${i}, got ${saved.length}`);
  return t;
}

export function numAttr(attrs: NamedAttrMap, name: string, fallback?: number): number {
  const v = attrs[name];
  if (typeof v === 'number') return v;
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  throw new Error(`gradient expected numeric attribute '${name}', got ${String(v)}`);
}

export function boolAttr(attrs: NamedAttrMap, name: string): boolean {
  return attrs[name] === true;
}

export function numListAttr(attrs: NamedAttrMap, name: string): number[] {
  const v = attrs[name];
  if (Array.isArray(v) && v.every((e) => typeof e === 'number')) return v as number[];
  if (typeof v === 'number') return [v];
  throw new Error(`gradient expected number[] attribute '${name}', got ${String(v)}`);
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Reduction axes as tfjs ops pass them: null/undefined means all, a number means one axis. */
export function reductionAxes(attrs: NamedAttrMap, name: string, rank: number): number[] {
  const v = attrs[name];
  if (v === undefined || v === null) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof v === 'number' ? [v] : (v as number[]);
  return list.map((a) => normAxis(a, rank));
}

/** `shape` with the reduced axes set to 1, so a reduced gradient broadcasts back over them. */
export function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

export function invertPerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return inv;
}

/**
 * Sums a broadcast gradient back to the shape of the input it came from: over the leading axes the
 * input lacked and over its size-1 axes. Always returns a fresh tensor (the tape may dispose dy).
 */
export function reduceToShape(tf: Tf, dy: Tensor, shape: readonly number[]): Tensor {
  const lead = dy.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && dy.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? tf.sum(dy, axes) : dy;
  return tf.reshape(summed, [...shape]);
}

/** Float zeros shaped like `x`: the engine insists every input gradient is float32. */
export function zerosFor(tf: Tf, x: Tensor): Tensor {
  return tf.zeros(x.shape, 'float32');
}

/** Gradient config for kernels that are piecewise constant or non-numeric: zero for every input. */
export function zeroGrad(tf: Tf, kernelName: string, inputs: readonly string[]): GradConfig {
  return {
    kernelName,
    inputsToSave: [...inputs],
    gradFunc: (_dy, saved) => {
      const map: GradMap = {};
      inputs.forEach((name, i) => {
        map[name] = () => zerosFor(tf, savedAt(saved, i));
      });
      return map;
    },
  };
}

/** Float mask (1 where `cond` holds) for multiplying into gradients. */
export function mask(tf: Tf, cond: Tensor): Tensor {
  return tf.cast(cond, 'float32');
}
