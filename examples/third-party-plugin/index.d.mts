import type { MethodPlugin } from '@peftkit/core';

/** (IA)³: a learned scaling vector per targeted linear layer. */
declare const plugin: MethodPlugin;
export default plugin;
