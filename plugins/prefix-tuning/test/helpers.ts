/** Test helpers: a hand-written safetensors file (shared, independent of peftkit's writer) and deterministic values. */
export { type RawTensor, safetensorsBytes } from '../../../test/support/safetensors-bytes.ts';

/** Deterministic, non-trivial values. */
export function wave(n: number, seed: number, scale: number): Float32Array {
  return Float32Array.from(
    { length: n },
    (_, i) => scale * Math.sin(0.37 * i + seed) + 0.1 * scale * Math.cos(1.3 * i),
  );
}
