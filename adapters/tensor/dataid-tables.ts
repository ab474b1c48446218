/*
 * tfjs 4.22 books every tensor in two WeakMaps keyed by its dataId: the engine's `state.tensorInfo` and the
 * backend's `dataIdMap.data` (a DataStorage). V8's WeakMap.set goes to the runtime (C++) once deleted entries reach
 * half the live ones, but the runtime only rehashes when they pass half the free slots. With thousands of
 * long-lived tensors (128 loaded LoRA adapters hold 2,540) and ops that make and free tensors all the time, many
 * inserts take that slow path: about 1 µs more per tensor, 8-25 % of a serving decode step (bench/RESULTS.md). Map
 * has no such path. tfjs only calls has/get/set/delete on both. A Map keeps the dataId of a tensor dropped without
 * dispose(); on wasm that tensor's heap memory is never freed anyway.
 * These are private fields of the pinned tfjs: when they are not where expected, nothing changes, and
 * test/wasm-dataid-tables.test.ts notices.
 */

interface DataTable {
  has(key: object): boolean;
}

interface EngineInternals {
  state?: { tensorInfo?: DataTable; numDataBuffers?: number };
}

interface BackendInternals {
  dataIdMap?: { data?: DataTable; numDataIds?(): number };
}

/** Which of the two tables are Maps. */
export interface DataTablesInUse {
  engine: boolean;
  backend: boolean;
}

/**
 * Replaces the engine's and the backend's dataId WeakMaps with Maps, each only while it is empty (a WeakMap
 * cannot be listed, so entries could not be carried over). Calling it again changes nothing.
 */
export function useMapDataTables(engine: unknown, backend: unknown): DataTablesInUse {
  const state = (engine as EngineInternals | null)?.state;
  if (state?.tensorInfo instanceof WeakMap && state.numDataBuffers === 0) state.tensorInfo = new Map<object, unknown>();
  const storage = (backend as BackendInternals | null)?.dataIdMap;
  if (storage?.data instanceof WeakMap && storage.numDataIds?.() === 0) storage.data = new Map<object, unknown>();
  return dataTablesInUse(engine, backend);
}

export function dataTablesInUse(engine: unknown, backend: unknown): DataTablesInUse {
  return {
    engine: (engine as EngineInternals | null)?.state?.tensorInfo instanceof Map,
    backend: (backend as BackendInternals | null)?.dataIdMap?.data instanceof Map,
  };
}
