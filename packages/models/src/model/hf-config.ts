import { z } from 'zod';
import { PeftkitError } from '@peftkit/io';

/** config.json fields every architecture reads the same way (classification labels, padding). */
export const labelFields = {
  num_labels: z.number().int().positive().optional(),
  id2label: z.record(z.string(), z.string()).optional(),
  pad_token_id: z.number().int().nullable().optional(),
};

/** Generation token ids of decoder configs. */
export const decoderTokenFields = {
  bos_token_id: z.number().int().nullable().optional(),
  eos_token_id: z
    .union([z.number().int(), z.array(z.number().int())])
    .nullable()
    .optional(),
};

/** Parses a config.json object with an architecture's schema; failures are PEFTKIT_E_MODEL_CONFIG. */
export function parseConfigJson<T>(schema: z.ZodType<T>, raw: unknown, architecture: string): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new PeftkitError(
      'PEFTKIT_E_MODEL_CONFIG',
      `invalid ${architecture} config: ${z.prettifyError(parsed.error)}`,
      { issues: parsed.error.issues },
    );
  }
  return parsed.data;
}
