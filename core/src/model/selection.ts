import type { Tensor, Tensor3D } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { Tf } from '../runtime/types.ts';
import type { AdapterSelection, ForwardCall, RowBatcher, SelectionGroup } from './graph.ts';
import type { HookTable } from './hooks.ts';

/** Name that selects no adapter for a row (PEFT's convention). */
export const BASE_ADAPTER = '__base__';

/** A selected name that no adapter on the model has: running the base instead would be a silent wrong answer. */
function assertKnown(name: string, known: ((name: string) => boolean) | undefined): void {
  if (known !== undefined && !known(name)) {
    throw new PeftkitError(
      'PEFTKIT_E_ADAPTER_UNKNOWN',
      `the selection names adapter '${name}', which this model does not have`,
      { adapter: name },
    );
  }
}

/**
 * Turns a selection into row groups. Rows whose adapter is null or `__base__` get no group. With `known` (does the
 * model have this adapter?), an unknown name is a coded error.
 */
export function resolveSelection(
  selection: AdapterSelection | undefined,
  batchSize: number,
  known?: (name: string) => boolean,
): SelectionGroup[] {
  if (selection === undefined) return [];
  if ('active' in selection) {
    const active = selection.active.filter((name) => name !== BASE_ADAPTER);
    for (const name of active) assertKnown(name, known);
    return active.length === 0 ? [] : [{ adapters: active, rows: null }];
  }
  if (selection.perRow.length !== batchSize) {
    throw new PeftkitError(
      'PEFTKIT_E_SELECTION',
      `perRow selection has ${selection.perRow.length} entries for a batch of ${batchSize}`,
      {
        rows: selection.perRow.length,
        batchSize,
      },
    );
  }
  const byAdapter = new Map<string, number[]>();
  selection.perRow.forEach((name, row) => {
    if (name === null || name === BASE_ADAPTER) return;
    assertKnown(name, known);
    const rows = byAdapter.get(name);
    if (rows === undefined) byAdapter.set(name, [row]);
    else rows.push(row);
  });
  const groups: SelectionGroup[] = [];
  for (const [name, rows] of byAdapter)
    groups.push({ adapters: [name], rows: rows.length === batchSize ? null : rows });
  return groups;
}

/** Every adapter name a call uses. */
export function adaptersOf(call: ForwardCall): Set<string> {
  const names = new Set<string>();
  for (const group of call.groups) for (const name of group.adapters) names.add(name);
  return names;
}

/** Adapter active for a batch row (first adapter of its group), or null. */
export function rowAdapters(call: ForwardCall): (readonly string[])[] {
  const rows: (readonly string[])[] = Array.from({ length: call.batchSize }, () => []);
  for (const group of call.groups) {
    if (group.rows === null) for (let r = 0; r < call.batchSize; r++) rows[r] = group.adapters;
    else for (const r of group.rows) rows[r] = group.adapters;
  }
  return rows;
}

interface RowHook {
  apply(input: Tensor, output: Tensor3D, call: ForwardCall): Tensor3D;
  batcher?(call: ForwardCall): RowBatcher | undefined;
}

/**
 * The batcher shared by every hook a call selects at this site (one adapter per group, as a perRow selection
 * gives), or undefined when any selected hook has none or they differ (then each adapter runs on its own rows).
 */
function sharedBatcher(
  hooks: HookTable<RowHook>,
  call: ForwardCall,
): { batcher: RowBatcher; first: string } | undefined {
  let shared: { batcher: RowBatcher; first: string } | undefined;
  for (const group of call.groups) {
    const name = group.adapters[0];
    if (group.adapters.length !== 1 || name === undefined) return undefined;
    if (!hooks.has(name)) continue;
    const batcher = hooks.call(name, 'batcher', (hook) => hook.batcher?.(call));
    if (batcher === undefined || (shared !== undefined && shared.batcher !== batcher)) return undefined;
    shared ??= { batcher, first: name };
  }
  return shared;
}

/** Each row's adapter at this site (null: no hook here or no adapter), for a batcher. */
function rowNames(hooks: HookTable<RowHook>, call: ForwardCall): (string | null)[] {
  const names: (string | null)[] = Array.from({ length: call.batchSize }, () => null);
  for (const group of call.groups) {
    const name = group.adapters[0] as string;
    if (!hooks.has(name)) continue;
    if (group.rows === null) names.fill(name);
    else for (const r of group.rows) names[r] = name;
  }
  return names;
}

/**
 * Applies the hooks of a site to the rows selected for each adapter. The base output is computed once for the
 * whole batch; when the selected hooks share a batcher, it applies all of them in one computation; otherwise each
 * group's rows are gathered, transformed and put back in place, so a mixed batch gives the same rows as per-row
 * calls either way. Must run inside a tidy scope.
 */
export function applyHooks(
  tf: Tf,
  hooks: HookTable<RowHook>,
  input: Tensor,
  output: Tensor3D,
  call: ForwardCall,
): Tensor3D {
  if (hooks.size === 0 || call.groups.length === 0) return output;
  const chain = (adapters: readonly string[], x: Tensor, y: Tensor3D): Tensor3D => {
    let out = y;
    // `call` tags what a hook throws with its plugin, adapter and site.
    for (const name of adapters) out = hooks.call(name, 'apply', (hook) => hook.apply(x, out, call)) ?? out;
    return out;
  };
  const first = call.groups[0];
  if (call.groups.length === 1 && first !== undefined && first.rows === null)
    return chain(first.adapters, input, output);
  const shared = sharedBatcher(hooks, call);
  if (shared !== undefined) {
    // One product for all rows; an error is tagged with the first adapter (the batch has no single owner).
    const rows = rowNames(hooks, call);
    return hooks.call(shared.first, 'applyRows', () => shared.batcher.applyRows(rows, input, output, call)) ?? output;
  }

  const pieces: Tensor3D[] = [];
  const order: number[] = [];
  const covered = new Set<number>();
  for (const group of call.groups) {
    if (!group.adapters.some((name) => hooks.has(name))) continue;
    const rows = group.rows ?? Array.from({ length: call.batchSize }, (_, i) => i);
    const index = tf.tensor1d(rows as number[], 'int32');
    pieces.push(chain(group.adapters, tf.gather(input, index), tf.gather(output, index)));
    for (const r of rows) {
      order.push(r);
      covered.add(r);
    }
  }
  if (pieces.length === 0) return output;
  const rest: number[] = [];
  for (let r = 0; r < call.batchSize; r++) if (!covered.has(r)) rest.push(r);
  if (rest.length > 0) {
    pieces.push(tf.gather(output, tf.tensor1d(rest, 'int32')));
    order.push(...rest);
  }
  const inverse = new Int32Array(order.length);
  order.forEach((row, position) => {
    inverse[row] = position;
  });
  return tf.gather(tf.concat(pieces, 0), tf.tensor1d(inverse, 'int32'));
}
