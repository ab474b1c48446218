import { type AdapterManager, type AdapterRecord, disposeSaved, PeftkitError, type Tf } from '@peftkit/core';
import { assertFiniteTensors, configRank, readAdapterConfined } from './adapter-files.ts';
import type { MergedAdapters } from './types.ts';

/** One loaded version of an adapter, living in the manager under a unique internal name. */
export interface Version {
  readonly internal: string;
  readonly version: number;
  readonly record: AdapterRecord;
  readonly parameters: number;
  readonly bytes: number;
  refs: number;
  retired: boolean;
}

export function versionOf(manager: AdapterManager, record: AdapterRecord, version: number): Version {
  // The plugin's stats include frozen tensors the adapter holds (not only its
  // trainable variables): the budget is bytes.
  const stats = manager.stats(record.name);
  return {
    internal: record.name,
    version,
    record,
    parameters: stats.trainableParams,
    bytes: stats.residentBytes,
    refs: 0,
    retired: false,
  };
}

export interface VersionLimits {
  readonly root: string;
  readonly budgetBytes: number;
  readonly maxFileBytes?: number;
  readonly maxRank?: number;
}

/**
 * Reads `path` under the root into the manager as `internal`: every file confined to the root, sized before
 * reading, NaN / Inf refused (D6, D10, D13), rank and budget limits applied; nothing stays loaded on failure.
 */
export async function loadVersion(
  manager: AdapterManager,
  tf: Tf,
  limits: VersionLimits,
  path: string,
  internal: string,
  version: number,
): Promise<Version> {
  const budget = limits.budgetBytes;
  const saved = await readAdapterConfined(tf, limits.root, path, { maxWeightBytes: limits.maxFileBytes ?? budget });
  let record: AdapterRecord;
  try {
    const rank = configRank(saved.config);
    const maxRank = limits.maxRank ?? 0;
    if (maxRank > 0 && rank !== null && rank > maxRank) {
      throw new PeftkitError(
        'PEFTKIT_E_ADAPTER_RANK',
        `adapter '${path}' has rank ${rank}; this server accepts at most ${maxRank} (--max-lora-rank)`,
        {
          rank,
          limit: maxRank,
        },
      );
    }
    record = manager.load(internal, saved);
  } finally {
    disposeSaved(saved);
  }
  const loaded = versionOf(manager, record, version);
  if (loaded.bytes > budget) {
    // It could never fit: refuse it rather than hold more than the budget (D13).
    manager.delete(internal);
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_TOO_LARGE',
      `adapter '${path}' needs ${loaded.bytes} bytes; the adapter budget is ${budget}`,
      {
        bytes: loaded.bytes,
        limit: budget,
      },
    );
  }
  return loaded;
}

/**
 * Linearizable updates (D4): every load and unload takes a ticket when it begins; per name, the ticket of the last
 * explicit load or unload that took effect. A load that began before it must not install (it would revert an
 * acknowledged update).
 */
export class UpdateOrder {
  #tickets = 0;
  readonly #applied = new Map<string, number>();

  next(): number {
    return ++this.#tickets;
  }

  /** Records that the update holding `ticket` took effect for `name`. */
  applied(name: string, ticket: number): void {
    this.#applied.set(name, ticket);
  }

  /** False when an update that began after `ticket` already took effect for `name`. */
  current(name: string, ticket: number): boolean {
    return (this.#applied.get(name) ?? 0) <= ticket;
  }
}

/** The cache name of a combination: derived from its recipe, hashed when long. */
export function mergedName(merged: MergedAdapters): string {
  const recipe = merged.strategy === 'linear' ? '' : `-d${merged.density ?? 1}-${merged.majoritySignMethod ?? 'total'}`;
  const key =
    `merged-${merged.strategy}${recipe}-${merged.ids.map((id, i) => `${id}x${merged.weights[i]}`).join('-')}`.replace(
      /[^A-Za-z0-9._-]/g,
      '_',
    );
  return key.length <= 90 ? key : `merged-${hash(key)}`;
}

/** A combination with huge weights overflows float32 to Inf, and every answer becomes NULs: refuse it (D6). */
export function assertFiniteCombination(manager: AdapterManager, internal: string): void {
  const saved = manager.save(internal);
  try {
    assertFiniteTensors(saved.tensors, 'merged_adapters');
  } catch {
    manager.delete(internal);
    throw new PeftkitError(
      'PEFTKIT_E_COMBINATION_NONFINITE',
      'the weighted combination holds NaN or Inf (are the weights too large?)',
      {},
    );
  } finally {
    disposeSaved(saved);
  }
}

function hash(text: string): string {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return (h >>> 0).toString(16);
}
