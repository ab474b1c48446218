/**
 * The engine interface the HTTP layer talks to. Everything crossing it is plain, structured-cloneable data, so the
 * same interface is served in-process (LocalEngine) or from a worker thread (WorkerEngine) without the app knowing.
 */

export interface SamplingParams {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  stop: string[];
  /** Sampling seed of this request alone (batch-independent); absent: a random one, so unseeded answers vary. */
  seed?: number;
}

/** LoRAX `parameters.merged_adapters`: a weighted combination built on the fly (LoRA only). */
export interface MergedAdapters {
  ids: string[];
  weights: number[];
  strategy: 'linear' | 'cat' | 'svd' | 'ties' | 'dare_linear' | 'dare_ties';
  /** Share of entries kept by ties / dare_* (LoRAX `density`, default 1). */
  density?: number;
  /** Sign election of ties / dare_ties (LoRAX `majority_sign_method`, default 'total'). */
  majoritySignMethod?: 'total' | 'frequency';
}

export interface GenerateJob {
  /** Text prompt (BOS added as the tokenizer says unless `addBos` is false) or token ids. */
  prompt?: string;
  ids?: number[];
  addBos?: boolean;
  /** Public adapter name, or null for the base model. */
  adapter: string | null;
  /** What an adapter name that is neither loaded nor under the adapter root gets (default 'error'). */
  unknownAdapter?: UnknownAdapter;
  merged?: MergedAdapters;
  params: SamplingParams;
}

/**
 * 'base': run the base model (the output's adapterVersion says 'base'); 'error': PEFTKIT_E_ADAPTER_UNKNOWN. The
 * engine decides in the one call (negative disk probes cached), so a fallback costs no second request.
 */
export type UnknownAdapter = 'base' | 'error';

export interface TokenOut {
  id: number;
  text: string;
  logprob: number;
  /** The adapter version producing it (`name@v<n>` or 'base'): a stream sends it as a header before its first token. */
  adapterVersion?: string;
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'cancelled';

export interface GenerateOutput {
  text: string;
  ids: number[];
  logprobs: number[];
  promptTokens: number;
  finishReason: FinishReason;
  /** The adapter version that produced this output (`name@v<n>`), or 'base'. */
  adapterVersion: string;
}

export interface ClassifyJob {
  inputs: string[];
  adapter: string | null;
  unknownAdapter?: UnknownAdapter;
}

export interface ClassifyOutput {
  labels: readonly string[];
  /** One probability row per input. */
  probs: number[][];
  promptTokens: number;
  adapterVersion: string;
}

export interface AdapterInfo {
  name: string;
  method: string;
  pluginVersion: string;
  parameters: number;
  bytes: number;
  version: number;
  pinned: boolean;
  /** Requests currently running on any version of this adapter. */
  inFlight: number;
  source: string;
}

export interface LoadAdapterOptions {
  /** Directory, relative to the adapter root (default: the name). Confined to the root. */
  path?: string;
  /** Replace an existing adapter in place (hot swap); without it a loaded name is a conflict. */
  replace?: boolean;
  pin?: boolean;
}

export interface EngineInfo {
  baseModel: string;
  task: 'causal-lm' | 'seq-cls';
  labels: readonly string[] | null;
  chatTemplate: string | null;
  bosToken: string | null;
  eosToken: string | null;
  maxPositions: number;
  /** Longest prompt accepted, in tokens, and its byte cap checked before tokenizing (--max-input-tokens). */
  maxInputTokens: number;
  maxInputBytes: number;
  /** The model directory (a worker engine's HTTP thread loads the tokenizer from it). */
  modelDir: string;
  /** Adapter directories found under the adapter root (loaded lazily on first use). */
  available: string[];
}

export interface EngineStats {
  queueDepth: number;
  running: number;
  batches: number;
  /** Histogram of rows per forward step: bucket upper bound → count. */
  batchSizes: Record<string, number>;
  steps: number;
  tokensGenerated: number;
  promptTokens: number;
  adaptersLoaded: number;
  adapterBytes: number;
  swaps: number;
  evictions: number;
  numTensors: number;
  /** Version number the next adapter load gets. */
  nextAdapterVersion: number;
  /** Times the engine worker was restarted after dying. */
  engineRestarts: number;
}

/** The stats of an engine that has done nothing yet (a worker not ready, a test double). */
export const EMPTY_ENGINE_STATS: EngineStats = {
  queueDepth: 0,
  running: 0,
  batches: 0,
  batchSizes: {},
  steps: 0,
  tokensGenerated: 0,
  promptTokens: 0,
  adaptersLoaded: 0,
  adapterBytes: 0,
  swaps: 0,
  evictions: 0,
  numTensors: 0,
  nextAdapterVersion: 1,
  engineRestarts: 0,
};

/**
 * 'ok': serving; 'degraded': the engine worker died and is being restarted (requests wait for it, those in flight
 * at the death got 503); 'dead': it could not be restarted; 'closed': shut down.
 */
export interface EngineHealth {
  status: 'ok' | 'degraded' | 'dead' | 'closed';
  restarts: number;
  detail?: string;
}

export interface GenerateHandlers {
  onToken?(token: TokenOut): void;
  signal?: AbortSignal;
}

export interface Engine {
  info(): Promise<EngineInfo>;
  generate(job: GenerateJob, handlers?: GenerateHandlers): Promise<GenerateOutput>;
  classify(job: ClassifyJob): Promise<ClassifyOutput>;
  loadAdapter(name: string, options?: LoadAdapterOptions): Promise<AdapterInfo>;
  unloadAdapter(name: string): Promise<void>;
  listAdapters(): Promise<AdapterInfo[]>;
  /** Liveness of the engine (a worker engine answers 'degraded' while it restarts a dead worker). */
  health(): Promise<EngineHealth>;
  /** Cheap, never blocked by a computing batch (the worker engine answers from its last snapshot). */
  stats(): EngineStats;
  /** Stops accepting work, waits for in-flight requests, frees everything. */
  close(): Promise<void>;
}

/** A PeftkitError flattened for transport (code + message survive a worker boundary). */
export interface ErrorData {
  code: string;
  message: string;
  details: Record<string, unknown>;
}
