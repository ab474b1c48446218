/**
 * Exclusive time per tfjs kernel, for the profiling benches (op-profile, decode-profile, serving-profile): wraps the
 * engine's runKernel once per process and adds each call's milliseconds, minus those of the kernels it ran inside,
 * to a row keyed by `key` (kernel name plus shapes, as each bench likes). `counting` false skips the bookkeeping.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KernelRow {
  calls: number;
  ms: number;
}

export type KernelKey = (
  name: string,
  inputs: tf.NamedTensorMap,
  attrs: tf.NamedAttrMap | undefined,
  out: unknown,
) => string;

export function recordKernelTimes(key: KernelKey, counting: () => boolean = () => true): Map<string, KernelRow> {
  const rows = new Map<string, KernelRow>();
  const engine = tf.engine();
  const run = engine.runKernel.bind(engine);
  const stack: number[] = [];
  engine.runKernel = ((name: string, inputs: tf.NamedTensorMap, attrs?: tf.NamedAttrMap) => {
    if (!counting()) return run(name, inputs, attrs);
    const start = performance.now();
    stack.push(0);
    const out = run(name, inputs, attrs);
    const total = performance.now() - start;
    const nested = stack.pop() as number;
    if (stack.length > 0) stack[stack.length - 1] = (stack.at(-1) as number) + total;
    const id = key(name, inputs, attrs, out);
    const row = rows.get(id) ?? { calls: 0, ms: 0 };
    row.calls++;
    row.ms += total - nested;
    rows.set(id, row);
    return out;
  }) as typeof engine.runKernel;
  return rows;
}

/** `name [shape of the first output]`: the key op-profile and decode-profile use. */
export const byOutputShape: KernelKey = (name, _inputs, _attrs, out) => {
  const first = (Array.isArray(out) ? out[0] : out) as tf.Tensor | undefined;
  return `${name} [${first?.shape.join(',') ?? ''}]`;
};
