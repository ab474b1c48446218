/**
 * A minimal WebAssembly assembler for peftkit's SIMD row loops (simd-rows.ts, simd-cross-entropy.ts): opcodes as
 * nested byte arrays, flattened into a module that imports the tfjs wasm heap's Memory. No toolchain, no built
 * artifact: the TypeScript below is the source, assembled when a kernel first runs. Opcode numbers are the
 * WebAssembly core and fixed-width SIMD specifications'.
 */

export type Code = number | Code[];

export function flat(code: Code[], out: number[] = []): number[] {
  for (const c of code) {
    if (typeof c === 'number') out.push(c);
    else flat(c, out);
  }
  return out;
}

export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v === 0 ? byte : byte | 0x80);
  } while (v !== 0);
  return out;
}

export function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

export const [I32, F32, V128] = [0x7f, 0x7d, 0x7b];
export const get = (local: number): Code => [0x20, local];
export const set = (local: number): Code => [0x21, local];
export const i32 = (v: number): Code => [0x41, sleb(v)];
export const [I32_ADD, I32_AND, I32_SHL, I32_GE_U, I32_EQZ] = [0x6a, 0x71, 0x74, 0x4f, 0x45];
export const [F32_ADD, F32_SUB, F32_MUL] = [0x92, 0x93, 0x94];
export const F32_ZERO: Code = [0x43, 0, 0, 0, 0];
export const F32_LOAD: Code = [0x2a, 2, 0]; // memarg: log2 alignment, offset
export const F32_STORE: Code = [0x38, 2, 0];
// SIMD: 0xfd prefix, then the LEB128 opcode
export const V_LOAD: Code = [0xfd, 0x00, 0, 0];
export const V_STORE: Code = [0xfd, 0x0b, 0, 0];
export const V_SPLAT: Code = [0xfd, 0x13];
export const V_ADD: Code = [0xfd, 0xe4, 0x01];
export const V_SUB: Code = [0xfd, 0xe5, 0x01];
export const V_MUL: Code = [0xfd, 0xe6, 0x01];
export const lane = (i: number): Code => [0xfd, 0x1f, i];

/** local += step */
export const bump = (local: number, step: number): Code => [get(local), i32(step), I32_ADD, set(local)];
/** ptr += the byte count held in local `bytes` */
export const advance = (ptr: number, bytes: number): Code => [get(ptr), get(bytes), I32_ADD, set(ptr)];
/** ((lane 0 op lane 1) op lane 2) op lane 3 of the f32x4 in `local`, left on the stack (op: f32.add, f32.max) */
export const acrossLanes = (local: number, op: number): Code => [
  [get(local), lane(0), get(local), lane(1), op, get(local), lane(2), op, get(local), lane(3), op],
];
/** base pointer + byte offset */
export const at = (base: number, offset: number): Code => [get(base), get(offset), I32_ADD];
/** while (i < end, unsigned) { body; i += step } */
export const loopWhile = (i: number, end: number, step: number, body: Code[]): Code => [
  [0x02, 0x40, 0x03, 0x40], // block, loop
  [get(i), get(end), I32_GE_U, 0x0d, 1], // br_if out of the block
  body,
  bump(i, step),
  [0x0c, 0, 0x0b, 0x0b], // br to the loop, end, end
];
/** while (rows != 0) { body; rows -= 1 } */
export const forRows = (rows: number, body: Code[]): Code => [
  [0x02, 0x40, 0x03, 0x40, get(rows), I32_EQZ, 0x0d, 1],
  body,
  [bump(rows, -1), 0x0c, 0, 0x0b, 0x0b],
];
/** end4 = 4 · (n rounded down to whole f32x4 lanes), end = 4 · n: byte offsets that end the two loops */
export const byteEnds = (n: number, end4: number, end: number): Code => [
  [get(n), i32(-4), I32_AND, i32(2), I32_SHL, set(end4)],
  [get(n), i32(2), I32_SHL, set(end)],
];

export const vec = (items: Code[]): Code => [uleb(items.length), items];
export const section = (id: number, ...items: Code[]): Code => {
  const bytes = flat([vec(items)]);
  return [id, uleb(bytes.length), bytes];
};
export const name = (s: string): Code => vec([...s].map((c) => c.charCodeAt(0)));
/** A function body: local groups [count, type], then the code. */
export const func = (locals: [number, number][], code: Code[]): Code => {
  const bytes = flat([vec(locals.map(([n, t]) => [uleb(n), t])), code, 0x0b]);
  return [uleb(bytes.length), bytes];
};

/** The parts of the WebAssembly JS API used here (the project's libs, ES2023 and node, declare none of it). */
export interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}

export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}

/** The runtime's WebAssembly namespace, if any. */
export const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

const FUNC_TYPE = 0x60;

/** A module of functions over the imported memory `env.memory`: each [name, param types, body]. */
export function assemble(funcs: [string, number[], Code][]): Uint8Array {
  return new Uint8Array(
    flat([
      [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
      section(1, ...funcs.map(([, params]) => [FUNC_TYPE, vec(params), 0])),
      section(2, [name('env'), name('memory'), 0x02, 0x00, 0x00]), // imported memory, no minimum
      section(3, ...funcs.map((_, i) => i)),
      section(7, ...funcs.map(([n], i) => [name(n), 0x00, i])),
      section(10, ...funcs.map(([, , body]) => body)),
    ]),
  );
}

const instances = new WeakMap<Uint8Array, WeakMap<WasmMemory, object | null>>();

/** The module's exports bound to `memory`, or null where this runtime lacks wasm (SIMD) or the memory is shared. */
export function instantiate<T>(module: Uint8Array, memory: WasmMemory): T | null {
  const byMemory = instances.get(module) ?? new WeakMap<WasmMemory, object | null>();
  instances.set(module, byMemory);
  if (!byMemory.has(memory)) {
    const api = wasmApi;
    const usable = api !== undefined && !(memory.buffer instanceof SharedArrayBuffer) && api.validate(module);
    byMemory.set(memory, usable ? new api.Instance(new api.Module(module), { env: { memory } }).exports : null);
  }
  return (byMemory.get(memory) ?? null) as T | null;
}
