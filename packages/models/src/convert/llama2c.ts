import { PeftkitError } from '@peftkit/io';

export { type HfLlamaConfig, type HfTensor, type HfWeights, llama2cToHf } from './llama2c-hf.ts';

/** Header of a llama2.c "version 0" checkpoint (run.c's Config), with the classifier sign folded out. */
export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** True when the file's vocab_size is positive: the classifier is the token embedding. */
  sharedClassifier: boolean;
}

/** The arrays in file order, each `[out, in]` row-major (y = W·x), views into one Float32Array. */
export interface Llama2cWeights {
  tokenEmbedding: Float32Array; // [vocab, dim]
  rmsAtt: Float32Array; // [L, dim]
  wq: Float32Array; // [L, dim, dim]
  wk: Float32Array; // [L, kvDim, dim]
  wv: Float32Array; // [L, kvDim, dim]
  wo: Float32Array; // [L, dim, dim]
  rmsFfn: Float32Array; // [L, dim]
  w1: Float32Array; // [L, hidden, dim]
  w2: Float32Array; // [L, dim, hidden]
  w3: Float32Array; // [L, hidden, dim]
  rmsFinal: Float32Array; // [dim]
  freqCisReal: Float32Array; // [seqLen, headDim/2], unused by run.c
  freqCisImag: Float32Array; // [seqLen, headDim/2], unused by run.c
  /** [vocab, dim]; only for untied checkpoints. */
  wcls?: Float32Array;
}

export interface Llama2cCheckpoint {
  config: Llama2cConfig;
  weights: Llama2cWeights;
}

const HEADER_BYTES = 7 * 4;
// llama2.c's versioned export (version 1, 2) starts with the uint32 magic "ak42".
const VERSIONED_MAGIC = 0x616b3432;
const HEADER = 'PEFTKIT_E_LLAMA2C_CHECKPOINT_HEADER';

export function llama2cKvDim(config: Llama2cConfig): number {
  return (config.dim * config.nKvHeads) / config.nHeads;
}

function readHeader(bytes: Uint8Array): Llama2cConfig {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new PeftkitError(
      'PEFTKIT_E_LLAMA2C_CHECKPOINT_SIZE',
      `checkpoint is ${bytes.byteLength} bytes, shorter than the ${HEADER_BYTES}-byte header`,
      {
        expected: HEADER_BYTES,
        actual: bytes.byteLength,
      },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) === VERSIONED_MAGIC) {
    throw new PeftkitError(
      'PEFTKIT_E_LLAMA2C_CHECKPOINT_VERSION',
      'versioned llama2.c export (magic "ak42") is not supported; use the legacy version 0 format',
      {
        version: view.getInt32(4, true),
      },
    );
  }
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, signedVocab, seqLen] = Array.from({ length: 7 }, (_, i) =>
    view.getInt32(i * 4, true),
  ) as [number, number, number, number, number, number, number];
  const config: Llama2cConfig = {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize: Math.abs(signedVocab),
    seqLen,
    sharedClassifier: signedVocab > 0,
  };
  const bad = (why: string): never => {
    throw new PeftkitError(HEADER, `invalid checkpoint header: ${why}`, { ...config });
  };
  for (const key of ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'vocabSize', 'seqLen'] as const) {
    if (!(config[key] > 0)) bad(`${key} must be positive, got ${config[key]}`);
  }
  if (dim % nHeads !== 0) bad(`dim ${dim} is not divisible by n_heads ${nHeads}`);
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0)
    bad(`n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  if ((dim / nHeads) % 2 !== 0) bad(`head_dim ${dim / nHeads} must be even for rotary embeddings`);
  return config;
}

function isLittleEndianHost(): boolean {
  return new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
}

/** Parses a llama2.c "version 0" checkpoint; the byte length must match the header exactly. */
export function readLlama2cCheckpoint(bytes: Uint8Array): Llama2cCheckpoint {
  const config = readHeader(bytes);
  const { dim, hiddenDim, nLayers: L, vocabSize, seqLen } = config;
  const kvDim = llama2cKvDim(config);
  const halfHead = dim / config.nHeads / 2;
  const sizes: [keyof Llama2cWeights, number][] = [
    ['tokenEmbedding', vocabSize * dim],
    ['rmsAtt', L * dim],
    ['wq', L * dim * dim],
    ['wk', L * kvDim * dim],
    ['wv', L * kvDim * dim],
    ['wo', L * dim * dim],
    ['rmsFfn', L * dim],
    ['w1', L * hiddenDim * dim],
    ['w2', L * dim * hiddenDim],
    ['w3', L * hiddenDim * dim],
    ['rmsFinal', dim],
    ['freqCisReal', seqLen * halfHead],
    ['freqCisImag', seqLen * halfHead],
  ];
  if (!config.sharedClassifier) sizes.push(['wcls', vocabSize * dim]);
  const floats = sizes.reduce((sum, [, n]) => sum + n, 0);
  const expected = HEADER_BYTES + floats * 4;
  if (bytes.byteLength !== expected) {
    throw new PeftkitError(
      'PEFTKIT_E_LLAMA2C_CHECKPOINT_SIZE',
      `checkpoint is ${bytes.byteLength} bytes; its header implies exactly ${expected} ` +
        `(${bytes.byteLength < expected ? 'truncated' : 'trailing bytes'})`,
      { expected, actual: bytes.byteLength, ...config },
    );
  }
  // One aligned copy; every tensor is a view into it.
  const all = new Float32Array(floats);
  if (isLittleEndianHost()) {
    new Uint8Array(all.buffer).set(bytes.subarray(HEADER_BYTES));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + HEADER_BYTES, floats * 4);
    for (let i = 0; i < floats; i++) all[i] = view.getFloat32(i * 4, true);
  }
  const weights: Partial<Llama2cWeights> = {};
  let offset = 0;
  for (const [name, n] of sizes) {
    weights[name] = all.subarray(offset, offset + n);
    offset += n;
  }
  return { config, weights: weights as Llama2cWeights };
}
