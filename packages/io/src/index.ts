/**
 * @peftkit/io — the bottom of peftkit's package graph: the shared error class, safetensors (single, sharded, with
 * validation), float16/bfloat16 conversion and atomic file writes. It imports nothing of peftkit's.
 */
export { PeftkitError, isPeftkitError } from './errors.ts';
export * from './safetensors.ts';
export { numel } from './safetensors-types.ts';
export { SINGLE_WEIGHTS_FILE, SHARDED_INDEX_FILE } from './safetensors-sharded.ts';
export { type AtomicWriteHooks, atomicWriteFile } from './atomic-write.ts';
export { IO_ERROR_CODES, errnoCode, ioError, readFileBytes } from './file-bytes.ts';
export * from './float16.ts';
export { scanJson, type JsonScanResult } from './json-scan.ts';
