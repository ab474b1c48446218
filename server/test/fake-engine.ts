import type { Engine } from '../src/index.ts';
import { EMPTY_ENGINE_STATS } from '../src/engine/types.ts';

/** An engine that only answers what the jobs routes ask (info, hot loads); inference is not under test here. */
export function fakeEngine(loaded: string[]): Engine {
  const info = {
    baseModel: 'base',
    task: 'causal-lm',
    labels: null,
    chatTemplate: null,
    bosToken: null,
    eosToken: null,
    maxPositions: 64,
    available: [],
  };
  return {
    info: async () => info as unknown as Awaited<ReturnType<Engine['info']>>,
    generate: async () => ({
      text: 'x',
      ids: [1],
      logprobs: [0],
      promptTokens: 1,
      finishReason: 'length',
      adapterVersion: 'base',
    }),
    classify: async () => {
      throw new Error('no');
    },
    loadAdapter: async (name: string) => {
      loaded.push(name);
      return {
        name,
        method: 'lora',
        pluginVersion: '0',
        parameters: 0,
        bytes: 0,
        version: 1,
        pinned: false,
        inFlight: 0,
        source: name,
      };
    },
    unloadAdapter: async () => undefined,
    listAdapters: async () => [],
    stats: () => EMPTY_ENGINE_STATS,
    health: async () => ({ status: 'ok', restarts: 0 }),
    close: async () => undefined,
  } as unknown as Engine;
}
