// Public entry of @peftkit/core/data (being written).
export { collate } from './collate.ts';
