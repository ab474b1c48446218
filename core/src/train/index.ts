// Public entry of @peftkit/core/train (being written).
export * from './types.ts';
