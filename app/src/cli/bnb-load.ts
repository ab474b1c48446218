import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tf } from '@peftkit/core';
import { type LoadedModel, type LoadModelOptions, loadModel } from '@peftkit/models';
import { convertBnbDirectory } from './convert-bnb.ts';

/** The bitsandbytes 4-bit quantization a model directory's config.json declares, or null for a float model. */
export async function bnb4bitConfig(dir: string): Promise<Record<string, unknown> | null> {
  let config: unknown;
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  } catch {
    return null; // loadModel reports a missing or broken config.json with its own code
  }
  const q = (config as { quantization_config?: unknown } | null)?.quantization_config;
  if (q === null || typeof q !== 'object') return null;
  const quant = q as Record<string, unknown>;
  return quant.load_in_4bit === true || quant.quant_method === 'bitsandbytes' ? quant : null;
}

/**
 * Loads a model directory, including one written by `convert bnb --to nf4|fp4`: its packed 4-bit weights are
 * dequantized to float first (through a temporary directory, removed again), since the model loader reads float
 * checkpoints only. QLoRA then quantizes the base again when it injects (defaults taken from `qloraDefaults`).
 */
export async function loadModelDir(
  tf: Tf,
  dir: string,
  options: LoadModelOptions = {},
): Promise<LoadedModel & { bnb: Record<string, unknown> | null }> {
  const bnb = await bnb4bitConfig(dir);
  if (bnb === null) return { ...(await loadModel(tf, dir, options)), bnb };
  const tmp = await mkdtemp(join(tmpdir(), 'peftkit-bnb-float-'));
  try {
    await convertBnbDirectory(dir, join(tmp, 'model'), { to: 'float', overwrite: true });
    return { ...(await loadModel(tf, join(tmp, 'model'), options)), bnb };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** QLoRA config defaults matching a bnb checkpoint's quantization (the user's --config still wins). */
export function qloraDefaults(bnb: Record<string, unknown> | null): Record<string, unknown> {
  if (bnb === null) return {};
  const out: Record<string, unknown> = {};
  if (bnb.bnb_4bit_quant_type === 'nf4' || bnb.bnb_4bit_quant_type === 'fp4') out.quant_type = bnb.bnb_4bit_quant_type;
  if (typeof bnb.bnb_4bit_use_double_quant === 'boolean') out.double_quant = bnb.bnb_4bit_use_double_quant;
  return out;
}
