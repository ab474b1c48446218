/**
 * A safetensors file built byte by byte, independently of peftkit's writer, for format tests that must not trust
 * the code they check: u64 little-endian header length, space-padded JSON header with `__metadata__: {format: pt}`,
 * little-endian float32 data in order.
 */

export interface RawTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

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
