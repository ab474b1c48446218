/** @peftkit/adapters: platform adapters. Today: tensor backends (wasm, cpu, native tensorflow when installed). */
export * from './tensor/index.ts';
