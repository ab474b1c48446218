/**
 * The one catalog of PeftkitError codes: what each means, the HTTP status the server answers it with and the CLI's
 * exit code. The server and the CLI derive their mappings from here; docs/errors.md is generated from it
 * (`npm run docs`), and test/error-catalog.test.ts fails when a code thrown in the source is missing.
 */
import { PeftkitError } from './errors.ts';

export interface ErrorInfo {
  /** One line: what went wrong. */
  readonly meaning: string;
  /** HTTP status of a request that fails with this code. */
  readonly http: number;
  /** Exit code of a CLI command that fails with this code: 2 usage errors, 1 everything else. */
  readonly exit: number;
}

// Client errors (the request, config or file given is at fault) are 4xx, everything else 500; exit 1 unless usage.
const status = (http: number, meaning: string, exit = 1): ErrorInfo => Object.freeze({ meaning, http, exit });
const bad = (meaning: string): ErrorInfo => status(400, meaning);
const fail = (meaning: string): ErrorInfo => status(500, meaning);

const BUILT_IN = {
  PEFTKIT_E_ADAPTER_CONFIG: bad('adapter_config.json is not valid JSON or not a valid adapter config'),
  PEFTKIT_E_ADAPTER_CONFLICT: bad('the adapter cannot coexist with one the model already has'),
  PEFTKIT_E_ADAPTER_DTYPE: bad('an adapter tensor has a dtype that cannot be saved or loaded'),
  PEFTKIT_E_ADAPTER_EXISTS: bad('an adapter (or its hook on a site) with that name already exists'),
  PEFTKIT_E_ADAPTER_FORMAT: bad('the adapter files or adapter kind do not fit the method asked for'),
  PEFTKIT_E_ADAPTER_KEY_MISSING: bad('the adapter weights lack a tensor the method needs'),
  PEFTKIT_E_ADAPTER_KEY_SHAPE: bad('an adapter tensor has the wrong shape for this model'),
  PEFTKIT_E_ADAPTER_KEY_UNEXPECTED: bad('the adapter weights hold a tensor the method does not expect'),
  PEFTKIT_E_ADAPTER_KEY_UNSUPPORTED: bad('the adapter weights hold a tensor kind this plugin does not support'),
  PEFTKIT_E_ADAPTER_NAME: bad('the adapter name is empty, reserved or has characters that are not allowed'),
  PEFTKIT_E_ADAPTER_NONFINITE: bad('an adapter tensor holds NaN or Inf'),
  PEFTKIT_E_ADAPTER_NOT_FOUND: status(404, 'no adapter config or weights in the given directory'),
  PEFTKIT_E_ADAPTER_PATH: bad('the adapter path lies outside the allowed adapter root'),
  PEFTKIT_E_ADAPTER_RANK: bad("the adapter's rank is above the server's --max-lora-rank"),
  PEFTKIT_E_ADAPTER_SLOTS: status(
    503,
    'every adapter slot (--max-loras) is held by a pinned adapter or an in-flight request; retry later',
  ),
  PEFTKIT_E_ADAPTER_TOO_LARGE: bad(
    "an adapter file or the loaded adapter is larger than the server's limit (file cap or memory budget)",
  ),
  PEFTKIT_E_ADAPTER_UNKNOWN: status(404, 'no adapter with that name is loaded'),
  PEFTKIT_E_BACKEND_INIT: fail('the tensor backend failed to initialise'),
  PEFTKIT_E_BACKEND_NONE: fail('no tensor backend adapter was provided to the kernel'),
  PEFTKIT_E_BACKEND_UNAVAILABLE: fail('the requested tensor backend cannot be loaded on this runtime'),
  PEFTKIT_E_BACKEND_UNKNOWN: fail('unknown tensor backend name'),
  PEFTKIT_E_BENCH_MISSING: fail('a benchmark script is missing (run from a repository checkout)'),
  PEFTKIT_E_BNB_FORMAT: fail('a bitsandbytes-quantized checkpoint is malformed'),
  PEFTKIT_E_BNB_KEY_MISSING: fail('a bitsandbytes-quantized weight lacks its quantization state'),
  PEFTKIT_E_BNB_UNSUPPORTED: fail('this bitsandbytes checkpoint layout is not supported'),
  PEFTKIT_E_BOTTLENECK_CONFIG: bad('the bottleneck adapter config does not fit the model'),
  PEFTKIT_E_CHECKPOINT: fail('a training checkpoint is missing, incomplete or does not match the run'),
  PEFTKIT_E_COMBINATION: bad('the adapters cannot be combined as asked'),
  PEFTKIT_E_COMBINATION_NONFINITE: bad(
    'the weighted combination of adapters holds NaN or Inf (weights too large?); nothing was served',
  ),
  PEFTKIT_E_CONFIG_INVALID: bad('the method config is invalid (unknown keys, wrong types or values)'),
  PEFTKIT_E_CONTEXT_LENGTH: bad("the input (virtual tokens included) is longer than the model's positions"),
  PEFTKIT_E_DATA: fail('a training batch or example is malformed'),
  PEFTKIT_E_DATASET_MISSING: fail('a built-in dataset package is not installed'),
  PEFTKIT_E_DATA_CHAT_TEMPLATE: fail('the chat template is missing, does not parse or fails to render'),
  PEFTKIT_E_DATA_CSV: fail('a CSV row breaks RFC 4180 or the header is bad'),
  PEFTKIT_E_DATA_EMPTY: fail('the data file holds no records'),
  PEFTKIT_E_DATA_FIELD: fail('a record lacks a field its format needs, or a field has the wrong type'),
  PEFTKIT_E_DATA_FORMAT: fail('the data format cannot be detected or the file type is unknown'),
  PEFTKIT_E_DATA_JSON: fail('a JSONL line is not valid JSON or not a JSON object'),
  PEFTKIT_E_DATA_LABEL: fail('a classification label is not in the label set'),
  PEFTKIT_E_DATA_OPTIONS: fail('invalid data options'),
  PEFTKIT_E_DATA_READ: fail('the data file cannot be read'),
  PEFTKIT_E_DATA_TOO_LONG: fail('an example is longer than maxLength and truncation is off'),
  PEFTKIT_E_DEPENDENCY_MISSING: fail('an optional npm package this feature needs is not installed'),
  PEFTKIT_E_DI_UNREGISTERED: fail('nothing is registered in the DI scope for a token'),
  PEFTKIT_E_ENGINE_COMPOSITION: fail('the server engine has no usable kernel factory (composition module)'),
  PEFTKIT_E_ENGINE_DEAD: status(503, 'the engine worker stopped; it is restarted, retry after Retry-After'),
  PEFTKIT_E_ERROR_CODE_CONFLICT: fail('an error code is registered again with different values'),
  PEFTKIT_E_ERROR_CODE_INVALID: fail('a registered error code or its HTTP status / exit code is malformed'),
  PEFTKIT_E_GENERATE_OPTIONS: bad('invalid generation options or no prompts'),
  PEFTKIT_E_GRAD_UNSUPPORTED: fail('the operation is not differentiable in peftkit'),
  PEFTKIT_E_FILE_INVALID: bad(
    'an uploaded fine-tuning file is not valid training data (file:line and the data code say why)',
  ),
  PEFTKIT_E_FILE_NOT_FOUND: status(404, 'no uploaded file with that id for this API key'),
  PEFTKIT_E_FILE_TOO_LARGE: status(413, 'an uploaded file is larger than the server accepts'),
  PEFTKIT_E_HUB_AUTH: fail('the Hugging Face Hub refused access (HTTP 401/403)'),
  PEFTKIT_E_HUB_BAD_INPUT: fail('the Hub repo, revision, file name or endpoint is malformed'),
  PEFTKIT_E_HUB_CHECKSUM: fail('a downloaded file does not match its sha256 or size'),
  PEFTKIT_E_HUB_HTTP: fail('the Hub answered with an unexpected HTTP status or response'),
  PEFTKIT_E_HUB_NETWORK: fail('the connection to the Hub failed after every retry'),
  PEFTKIT_E_HUB_NOT_FOUND: fail('the Hub has no such repo, revision or file (HTTP 404)'),
  PEFTKIT_E_INPUT: bad('the model input is malformed (empty, ragged, ids out of range, bad mask)'),
  PEFTKIT_E_INSPECT: fail('the directory to inspect holds no adapter or model files'),
  PEFTKIT_E_INTERNAL: fail('an internal invariant failed (a bug)'),
  PEFTKIT_E_IO_FILE_TOO_LARGE: fail("a file is larger than the caller's limit or than one array can hold"),
  PEFTKIT_E_IO_NOT_FOUND: fail('the path does not exist'),
  PEFTKIT_E_IO_READ: fail('reading a file failed'),
  PEFTKIT_E_IO_WRITE: fail('an atomic write failed; any previous file is untouched'),
  PEFTKIT_E_JOB_METHOD: bad('a fine-tuning job names a method plugin the workers do not have'),
  PEFTKIT_E_JOB_MODEL: bad('a fine-tuning job names a base model this deployment does not serve'),
  PEFTKIT_E_JOB_NOT_FOUND: status(404, 'no fine-tuning job with that id for this API key'),
  PEFTKIT_E_JOB_QUEUE: status(503, 'the job queue (Redis) cannot be reached'),
  PEFTKIT_E_JOB_STATE: bad('the job is not in a state that allows this action (e.g. cancelling a finished job)'),
  PEFTKIT_E_JOB_STORE: fail('the job store cannot be read or written, or holds a corrupt record'),
  PEFTKIT_E_LLAMA2C_CHECKPOINT_HEADER: fail('the llama2.c checkpoint header is invalid'),
  PEFTKIT_E_LLAMA2C_CHECKPOINT_SIZE: fail('the llama2.c checkpoint size does not match its header'),
  PEFTKIT_E_LLAMA2C_CHECKPOINT_VERSION: fail('the llama2.c checkpoint version is not supported'),
  PEFTKIT_E_LLAMA2C_TOKENIZER_INVALID: fail('the llama2.c tokenizer file is invalid'),
  PEFTKIT_E_LLAMA2C_TOKENIZER_TRUNCATED: fail('the llama2.c tokenizer file is truncated'),
  PEFTKIT_E_LLAMA2C_TOKENIZER_VOCAB_MISMATCH: fail("the llama2.c tokenizer's vocabulary size differs from the model's"),
  PEFTKIT_E_MERGE_NONFINITE: fail('merging would produce NaN or Inf; nothing was merged'),
  PEFTKIT_E_MERGE_UNSUPPORTED: bad('the adapter cannot be merged into the base weights'),
  PEFTKIT_E_METRICS_CLOSED: fail('a metrics log was written after close'),
  PEFTKIT_E_METRICS_INVALID: fail('a metrics log line is not JSON or not a valid record'),
  PEFTKIT_E_METRICS_IO: fail('the metrics log cannot be opened, written or read'),
  PEFTKIT_E_MODEL_ARCH: fail('the model architecture (model_type) is not supported'),
  PEFTKIT_E_MODEL_CONFIG: bad("the model's config.json is invalid or inconsistent"),
  PEFTKIT_E_MODEL_MISSING_TENSOR: fail('the model checkpoint lacks a tensor the architecture needs'),
  PEFTKIT_E_MODEL_NOT_FOUND: fail('the model directory is missing or has no config.json'),
  PEFTKIT_E_MODEL_SAVE: fail('the model cannot be saved'),
  PEFTKIT_E_MODEL_TASK: bad('the model does not support the task asked for'),
  PEFTKIT_E_MODEL_TENSOR_DTYPE: fail('a model tensor has a dtype that cannot be loaded'),
  PEFTKIT_E_MODEL_TENSOR_SHAPE: fail("a model tensor's shape does not match the config"),
  PEFTKIT_E_NO_ENCODER: fail('the adapter was loaded without its prompt encoder'),
  PEFTKIT_E_OPTIMIZER_STATE: fail('the optimizer state does not match the optimizer or its variables'),
  PEFTKIT_E_OUTPUT_EXISTS: fail('the output exists (pass --overwrite to replace it)'),
  PEFTKIT_E_PLUGIN_DEPENDENCY: bad('a plugin needs another plugin that is missing or at the wrong version'),
  PEFTKIT_E_PLUGIN_DUPLICATE: bad('a plugin with that name is already registered'),
  PEFTKIT_E_PLUGIN_HOOK: bad('a plugin hook threw'),
  PEFTKIT_E_PLUGIN_IMPORT: bad('a plugin module cannot be imported'),
  PEFTKIT_E_PLUGIN_INVALID: bad('the module is not a valid method plugin'),
  PEFTKIT_E_PLUGIN_UNKNOWN: bad('no method plugin with that name is registered'),
  PEFTKIT_E_PLUGIN_VERSION: bad('the plugin expects a plugin API version this core does not provide'),
  PEFTKIT_E_PORT_IN_USE: fail('the server cannot listen: the port is in use or not allowed (pick another with --port)'),
  PEFTKIT_E_PROMPT_TOO_LARGE: status(
    413,
    'the prompt is longer in bytes than --max-input-tokens allows (refused before tokenizing)',
  ),
  PEFTKIT_E_PROMPT_TOO_LONG: bad('the prompt has more tokens than --max-input-tokens'),
  PEFTKIT_E_PROJECT_CONFIG: status(400, 'peftkit.config.json (or the "peftkit" field of package.json) is not valid', 2),
  PEFTKIT_E_QLORA_BLOCK_SIZE: fail('the 4-bit quantization block size is not a power of two in 32..4096'),
  PEFTKIT_E_QLORA_QUANT_MISMATCH: fail('a weight is already quantized with different settings'),
  PEFTKIT_E_QLORA_SHAPE: fail('a quantized weight does not fit the shape asked for'),
  PEFTKIT_E_QUEUE_FULL: status(429, 'the request queue is full; retry later'),
  PEFTKIT_E_REGISTRY_FROZEN: fail('the plugin registry is frozen; register plugins before the kernel serves'),
  PEFTKIT_E_SAFETENSORS_COVERAGE: bad('the tensor data leaves bytes no tensor covers'),
  PEFTKIT_E_SAFETENSORS_DTYPE: bad('a tensor has an unknown or unsupported dtype'),
  PEFTKIT_E_SAFETENSORS_DUPLICATE: bad('a tensor name appears twice'),
  PEFTKIT_E_SAFETENSORS_ENDIANNESS: bad('big-endian hosts are not supported'),
  PEFTKIT_E_SAFETENSORS_HEADER_ENTRY: bad('a header entry is not a valid tensor description'),
  PEFTKIT_E_SAFETENSORS_HEADER_JSON: bad('the header is not valid JSON'),
  PEFTKIT_E_SAFETENSORS_HEADER_SHAPE: bad('a tensor shape is not a list of non-negative integers'),
  PEFTKIT_E_SAFETENSORS_HEADER_TOO_LARGE: bad('the header is larger than allowed'),
  PEFTKIT_E_SAFETENSORS_HEADER_UTF8: bad('the header is not valid UTF-8'),
  PEFTKIT_E_SAFETENSORS_INDEX: bad('the sharded-checkpoint index is invalid'),
  PEFTKIT_E_SAFETENSORS_INDEX_PATH: bad('the index names a shard outside its directory'),
  PEFTKIT_E_SAFETENSORS_METADATA: bad('__metadata__ is not a string → string map'),
  PEFTKIT_E_SAFETENSORS_NOT_FOUND: bad('no safetensors file (or index) where one was expected'),
  PEFTKIT_E_SAFETENSORS_OFFSETS: bad('tensor data offsets are out of order or out of bounds'),
  PEFTKIT_E_SAFETENSORS_OVERLAP: bad('two tensors overlap in the data section'),
  PEFTKIT_E_SAFETENSORS_SHARD_MISMATCH: bad('a shard does not hold the tensors its index lists'),
  PEFTKIT_E_SAFETENSORS_SIZE_MISMATCH: bad("a tensor's byte length does not match its shape and dtype"),
  PEFTKIT_E_SAFETENSORS_SIZE_OVERFLOW: bad('a tensor size overflows safe integers'),
  PEFTKIT_E_SAFETENSORS_TRUNCATED: bad('the file is shorter than its header says'),
  PEFTKIT_E_SAFETENSORS_VALUE_RANGE: bad('a value cannot be represented in the dtype asked for'),
  PEFTKIT_E_SAFETENSORS_WRITE_INPUT: bad('the tensors given to the writer are invalid'),
  PEFTKIT_E_SELECTION: fail('the per-row adapter selection does not match the batch'),
  PEFTKIT_E_SERVER_MISSING: fail('@peftkit/server is not installed or does not export startServer'),
  PEFTKIT_E_SHUTTING_DOWN: status(503, 'the server is shutting down'),
  PEFTKIT_E_TARGET_NOT_FOUND: bad('the target modules match nothing in the base model'),
  PEFTKIT_E_TIMEOUT: status(408, 'the request took longer than the request timeout and was cancelled'),
  PEFTKIT_E_TOKENIZER_HF_EXPORT: fail('the tokenizer cannot be exported as tokenizer.json'),
  PEFTKIT_E_TOKENIZER_ID_RANGE: fail('a token id is outside the vocabulary'),
  PEFTKIT_E_TOKENIZER_INVALID: fail('the tokenizer file is invalid'),
  PEFTKIT_E_TOKENIZER_MISSING: fail('a tokenizer is needed but none was given'),
  PEFTKIT_E_TOKENIZER_NOT_FOUND: fail('no tokenizer file in the model directory'),
  PEFTKIT_E_TOKENIZER_READ: fail('the tokenizer file cannot be read'),
  PEFTKIT_E_TOKENIZER_TRAIN: fail('invalid tokenizer training options'),
  PEFTKIT_E_TRAIN_NOTHING: fail('the adapter has no trainable variables'),
  PEFTKIT_E_TRAIN_OPTIONS: fail('invalid training options'),
  PEFTKIT_E_UNEXPECTED: fail(
    'an error without a peftkit code (a bug or an uncaught runtime error; --verbose shows the stack)',
  ),
  PEFTKIT_E_UNSUPPORTED: bad('the request asks for something this server does not support'),
  // CLI-only; the server never sees it (500 is what it answered before the catalog).
  PEFTKIT_E_USAGE: status(500, 'wrong command-line usage (see --help)', 2),
} as const satisfies Record<string, ErrorInfo>;

export type BuiltInErrorCode = keyof typeof BUILT_IN;

/** Every built-in code; third-party codes added with registerErrorCodes are looked up by errorInfo. */
export const ERROR_CATALOG: Readonly<Record<BuiltInErrorCode, ErrorInfo>> = Object.freeze(BUILT_IN);

const registered = new Map<string, ErrorInfo>();
const UNKNOWN: ErrorInfo = Object.freeze({ meaning: 'unknown error code', http: 500, exit: 1 });

function lookup(code: string): ErrorInfo | undefined {
  if (Object.hasOwn(ERROR_CATALOG, code)) return ERROR_CATALOG[code as BuiltInErrorCode];
  return registered.get(code);
}

/** Meaning, HTTP status and exit code of a code; unknown codes are a server error (500) and exit 1. */
export function errorInfo(code: string): ErrorInfo {
  return lookup(code) ?? UNKNOWN;
}

const same = (a: ErrorInfo, b: ErrorInfo) => a.meaning === b.meaning && a.http === b.http && a.exit === b.exit;
const inRange = (n: unknown, min: number, max: number) =>
  Number.isInteger(n) && (n as number) >= min && (n as number) <= max;

/**
 * Adds a plugin's own codes to the catalog. Registering a code again with the same values is a no-op; with different
 * values it throws PEFTKIT_E_ERROR_CODE_CONFLICT (built-in codes cannot be redefined). All-or-nothing.
 */
export function registerErrorCodes(entries: Readonly<Record<string, ErrorInfo>>): void {
  const adds: [string, ErrorInfo][] = [];
  for (const [code, info] of Object.entries(entries)) {
    // Exit 0 would read as success; statuses below 400 are not errors.
    const valid = /^[A-Z][A-Z0-9_]*[A-Z0-9]$/.test(code) && typeof info?.meaning === 'string';
    if (!valid || !inRange(info.http, 400, 599) || !inRange(info.exit, 1, 125)) {
      const message = `error code '${code}' needs an UPPER_SNAKE name, a meaning, http 400-599 and exit 1-125`;
      throw new PeftkitError('PEFTKIT_E_ERROR_CODE_INVALID', message, { code });
    }
    const existing = lookup(code);
    if (existing !== undefined && !same(existing, info)) {
      const message = `error code '${code}' is already defined with different values`;
      throw new PeftkitError('PEFTKIT_E_ERROR_CODE_CONFLICT', message, { code, existing, requested: info });
    }
    if (existing === undefined)
      adds.push([code, Object.freeze({ meaning: info.meaning, http: info.http, exit: info.exit })]);
  }
  for (const [code, info] of adds) registered.set(code, info);
}
