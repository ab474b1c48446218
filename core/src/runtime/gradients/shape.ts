import type { GradConfig } from '@tensorflow/tfjs-core';
import type { Tf } from '../types.ts';
import {
  type GradMap,
  invertPerm,
  many,
  normAxis,
  numAttr,
  numListAttr,
  reduceToShape,
  savedAt,
  single,
} from './util.ts';

/** Normalises Slice's begin/size the way the kernel does (short lists pad, size -1 means "to the end"). */
function sliceBounds(
  shape: readonly number[],
  begin: number[],
  size: number[] | undefined,
): { begin: number[]; size: number[] } {
  const b = shape.map((_d, i) => begin[i] ?? 0);
  const s = shape.map((d, i) => {
    const v = size?.[i] ?? -1;
    return v === -1 ? d - (b[i] ?? 0) : v;
  });
  return { begin: b, size: s };
}

/** Kernels that only move data around: their gradients move dy back. */
export function shapeGradients(tf: Tf): GradConfig[] {
  const reshapeBack = (kernelName: string, input: string): GradConfig => ({
    kernelName,
    inputsToSave: [input],
    gradFunc: (dy, saved) => {
      const x = savedAt(saved, 0);
      return { [input]: () => tf.reshape(single(dy), x.shape) };
    },
  });
  return [
    reshapeBack('Reshape', 'x'),
    reshapeBack('ExpandDims', 'input'),
    {
      kernelName: 'Transpose',
      gradFunc: (dy, _saved, attrs) => ({ x: () => tf.transpose(single(dy), invertPerm(numListAttr(attrs, 'perm'))) }),
    },
    {
      kernelName: 'Reverse',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = savedAt(saved, 0);
        const dims = numListAttr(attrs, 'dims').map((d) => normAxis(d, x.rank));
        return { x: () => tf.reverse(single(dy), dims) };
      },
    },
    {
      kernelName: 'Concat',
      saveAllInputs: true,
      gradFunc: (dy, saved, attrs) => {
        const g = single(dy);
        const axis = normAxis(numAttr(attrs, 'axis', 0), g.rank);
        const map: GradMap = {};
        let offset = 0;
        saved.forEach((t, i) => {
          const begin = g.shape.map((_d, d) => (d === axis ? offset : 0));
          offset += t.shape[axis] ?? 0;
          map[i] = () => tf.slice(g, begin, t.shape);
        });
        return map;
      },
    },
    {
      kernelName: 'SplitV',
      gradFunc: (dy, _saved, attrs) => {
        const parts = many(dy);
        const axis = normAxis(numAttr(attrs, 'axis', 0), parts[0]?.rank ?? 0);
        return { x: () => tf.concat(parts, axis) };
      },
    },
    {
      kernelName: 'Pack',
      saveAllInputs: true,
      gradFunc: (dy, saved, attrs) => {
        const g = single(dy);
        const axis = normAxis(numAttr(attrs, 'axis', 0), g.rank);
        const map: GradMap = {};
        // One lazy slice per input instead of an eager unstack, so unused slices are never made.
        saved.forEach((t, i) => {
          const begin = g.shape.map((_d, d) => (d === axis ? i : 0));
          const size = g.shape.map((d, k) => (k === axis ? 1 : d));
          map[i] = () => tf.reshape(tf.slice(g, begin, size), t.shape);
        });
        return map;
      },
    },
    {
      kernelName: 'Unpack',
      gradFunc: (dy, _saved, attrs) => {
        const parts = many(dy);
        const axis = normAxis(numAttr(attrs, 'axis', 0), (parts[0]?.rank ?? 0) + 1);
        return { value: () => tf.stack(parts, axis) };
      },
    },
    {
      kernelName: 'Slice',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = savedAt(saved, 0);
        const size = attrs.size === undefined || attrs.size === null ? undefined : numListAttr(attrs, 'size');
        const b = sliceBounds(x.shape, numListAttr(attrs, 'begin'), size);
        const paddings = x.shape.map((d, i): [number, number] => {
          const lo = b.begin[i] ?? 0;
          return [lo, d - lo - (b.size[i] ?? 0)];
        });
        return { x: () => tf.pad(single(dy), paddings) };
      },
    },
    {
      kernelName: 'PadV2',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = savedAt(saved, 0);
        const paddings = attrs.paddings as unknown as Array<[number, number]>;
        const begin = x.shape.map((_d, i) => paddings[i]?.[0] ?? 0);
        return { x: () => tf.slice(single(dy), begin, x.shape) };
      },
    },
    {
      // Tiled dy has shape [r0*s0, r1*s1, ...]; viewed as [r0, s0, r1, s1, ...] the copies sit on the r axes.
      kernelName: 'Tile',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = savedAt(saved, 0);
        const reps = numListAttr(attrs, 'reps');
        return {
          x: () => {
            // Only repeated axes are split, which keeps the rank (and wasm transposes) small.
            const split: number[] = [];
            const repAxes: number[] = [];
            x.shape.forEach((d, i) => {
              const r = reps[i] ?? 1;
              if (r > 1) {
                repAxes.push(split.length);
                split.push(r);
              }
              split.push(d);
            });
            const g = single(dy);
            return repAxes.length === 0
              ? tf.reshape(g, x.shape)
              : tf.reshape(tf.sum(tf.reshape(g, split), repAxes), x.shape);
          },
        };
      },
    },
    {
      kernelName: 'BroadcastTo',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => {
        const x = savedAt(saved, 0);
        return { x: () => reduceToShape(tf, single(dy), x.shape) };
      },
    },
  ];
}
