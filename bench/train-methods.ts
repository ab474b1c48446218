/**
 * The rows of bench/train.ts: one per PEFT method, each naming the plugin package(s) it needs and the adapter config
 * it trains. Configs follow the peer comparison (LoRA r=8 on q,v, as the PyTorch peer does) and each method's
 * common defaults otherwise. A row whose plugin does not import or has no default export is skipped with the reason.
 */
import type { Kernel, Tf } from '@peftkit/core';
import type { OptimizerFactory } from '@peftkit/core/train';

export interface TrainMethod {
  /** Row name (also the child-process argument). */
  readonly name: string;
  /** Method plugin name passed to `manager.create`. */
  readonly plugin: string;
  /** Packages to import and register, in dependency order. */
  readonly packages: readonly string[];
  readonly config: Record<string, unknown>;
  /** The PyTorch peer runs the same step for these rows. */
  readonly peer?: 'full' | 'lora';
  /** Extra positions the method prepends to every sequence (prompt-like methods). */
  readonly virtualTokens?: number;
  /** Work before the adapter is created (QLoRA quantizes the base). Returns a summary for the report. */
  readonly prepare?: (kernel: Kernel, model: unknown) => Promise<Record<string, unknown>>;
  /** Optimizer other than AdamW (QLoRA's paged AdamW). */
  readonly optimizer?: () => Promise<OptimizerFactory>;
}

/** LoRA targets and rank shared with the PyTorch peer (bench/peer/train_step.py). */
export const LORA_CONFIG = { r: 8, lora_alpha: 16, lora_dropout: 0, target_modules: ['q_proj', 'v_proj'] } as const;
const VIRTUAL_TOKENS = 20;

interface QloraModule {
  quantizeModel(tf: Tf, model: never): { quantized: string[]; bytesBefore: number; bytesAfter: number };
  pagedAdamW: OptimizerFactory;
}

export const TRAIN_METHODS: readonly TrainMethod[] = [
  { name: 'full', plugin: 'full', packages: ['@peftkit/full'], config: {}, peer: 'full' },
  { name: 'lora', plugin: 'lora', packages: ['@peftkit/lora'], config: { ...LORA_CONFIG }, peer: 'lora' },
  {
    name: 'qlora',
    plugin: 'qlora',
    packages: ['@peftkit/lora', '@peftkit/qlora'],
    config: { ...LORA_CONFIG },
    prepare: async (kernel, model) => {
      const q = (await import('@peftkit/qlora')) as unknown as QloraModule;
      const report = q.quantizeModel(kernel.tf, model as never);
      return {
        quantizedSites: report.quantized.length,
        bytesBefore: report.bytesBefore,
        bytesAfter: report.bytesAfter,
      };
    },
    optimizer: async () => {
      const { pagedAdamW } = (await import('@peftkit/qlora')) as unknown as QloraModule;
      // The paged optimizer keeps its state off the backend; older versions lack dispose(), which the loop calls.
      return (tf, settings) => {
        const optimizer = pagedAdamW(tf, settings);
        if (typeof optimizer.dispose !== 'function') Object.assign(optimizer, { dispose() {} });
        return optimizer;
      };
    },
  },
  {
    name: 'bottleneck',
    plugin: 'bottleneck',
    packages: ['@peftkit/bottleneck'],
    config: { preset: 'seq_bn', reduction_factor: 16 },
  },
  {
    name: 'prefix-tuning',
    plugin: 'prefix-tuning',
    packages: ['@peftkit/prefix-tuning'],
    config: { num_virtual_tokens: VIRTUAL_TOKENS },
    virtualTokens: VIRTUAL_TOKENS,
  },
  {
    name: 'prompt-tuning',
    plugin: 'prompt-tuning',
    packages: ['@peftkit/prompt-tuning'],
    config: { num_virtual_tokens: VIRTUAL_TOKENS },
    virtualTokens: VIRTUAL_TOKENS,
  },
  {
    name: 'p-tuning',
    plugin: 'p-tuning',
    packages: ['@peftkit/prompt-tuning', '@peftkit/p-tuning'],
    config: { num_virtual_tokens: VIRTUAL_TOKENS, encoder_hidden_size: 128 },
    virtualTokens: VIRTUAL_TOKENS,
  },
];

export function findMethod(name: string): TrainMethod | undefined {
  return TRAIN_METHODS.find((m) => m.name === name);
}

/** Imports a row's plugin packages; returns their default exports or the reason the row is skipped. */
export async function importPlugins(method: TrainMethod): Promise<{ plugins: unknown[] } | { skipped: string }> {
  const plugins: unknown[] = [];
  for (const specifier of method.packages) {
    try {
      const mod = (await import(specifier)) as { default?: unknown };
      if (mod.default === undefined) return { skipped: `${specifier} has no default export yet` };
      plugins.push(mod.default);
    } catch (error) {
      return { skipped: `${specifier} does not import: ${(error as Error).message.split('\n')[0]}` };
    }
  }
  return { plugins };
}
