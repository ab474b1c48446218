/** Test helpers: a hand-written safetensors file (independent of peftkit's writer) and deterministic values. */

export interface RawTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** safetensors by hand: u64 LE header length, space-padded JSON header, little-endian float32 data. */
export function safetensorsBytes(tensors: readonly RawTensor[]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * t.data.length] };
    offset += 4 * t.data.length;
  }
  let json = JSON.stringify(header);
  while (json.length % 8 !== 0) json += ' ';
  const bytes = new Uint8Array(8 + json.length + offset);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  for (let i = 0; i < json.length; i++) bytes[8 + i] = json.charCodeAt(i);
  let p = 8 + json.length;
  for (const t of tensors) {
    for (const v of t.data) {
      view.setFloat32(p, v, true);
      p += 4;
    }
  }
  return bytes;
}

/** Deterministic, non-trivial values. */
export function wave(n: number, seed: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => scale * Math.sin(0.37 * i + seed) + 0.1 * scale * Math.cos(1.3 * i));
}
