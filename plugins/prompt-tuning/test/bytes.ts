/** Test helpers: a safetensors file built byte by byte (shared, independent of peftkit's writer) and test values. */
export { type RawTensor, safetensorsBytes } from '../../../test/support/safetensors-bytes.ts';

/** Deterministic, non-trivial values. */
export function values(n: number, seed: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => scale * Math.sin(0.7 * i + seed));
}
