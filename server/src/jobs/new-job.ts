import type { FineTuningJob, Hyperparameters, PeftkitSpec } from './types.ts';

/** The body of POST /v1/fine_tuning/jobs: OpenAI's fields plus the `peftkit` extension. */
export interface CreateJobInput {
  model: string;
  training_file: string;
  validation_file?: string | null | undefined;
  suffix?: string | null | undefined;
  seed?: number | null | undefined;
  metadata?: Record<string, string> | null | undefined;
  hyperparameters?: Partial<Hyperparameters> | undefined;
  method?:
    | { type: 'supervised'; supervised?: { hyperparameters?: Partial<Hyperparameters> | undefined } | undefined }
    | undefined;
  peftkit?:
    | {
        method?: string | undefined;
        config?: Record<string, unknown> | undefined;
        steps?: number | undefined;
        lr?: number | undefined;
        training?: Record<string, unknown> | undefined;
      }
    | undefined;
}

/** Who and what a new job is besides its input; the service checks the input first. */
export interface NewJobContext {
  id: string;
  owner: string;
  /** The method plugin, already checked against the installed ones. */
  method: string;
  createdAt: number;
}

/**
 * The OpenAI job object a checked create request starts as (validating_files): unset hyperparameters read 'auto',
 * and the peftkit spec carries only the fields the request gave.
 */
export function newJob(input: CreateJobInput, context: NewJobContext): FineTuningJob {
  const given = input.method?.supervised?.hyperparameters ?? input.hyperparameters ?? {};
  const hyperparameters: Hyperparameters = {
    n_epochs: given.n_epochs ?? 'auto',
    batch_size: given.batch_size ?? 'auto',
    learning_rate_multiplier: given.learning_rate_multiplier ?? 'auto',
  };
  const spec: PeftkitSpec = { method: context.method, config: input.peftkit?.config ?? {} };
  if (input.peftkit?.steps !== undefined) spec.steps = input.peftkit.steps;
  if (input.peftkit?.lr !== undefined) spec.lr = input.peftkit.lr;
  if (input.peftkit?.training !== undefined) spec.training = input.peftkit.training;
  return {
    id: context.id,
    object: 'fine_tuning.job',
    created_at: context.createdAt,
    error: null,
    fine_tuned_model: null,
    finished_at: null,
    hyperparameters,
    model: input.model,
    organization_id: `org-${context.owner}`,
    result_files: [],
    seed: input.seed ?? 42,
    status: 'validating_files',
    trained_tokens: null,
    training_file: input.training_file,
    validation_file: input.validation_file ?? null,
    estimated_finish: null,
    integrations: [],
    metadata: input.metadata ?? null,
    user_provided_suffix: input.suffix ?? null,
    method: { type: 'supervised', supervised: { hyperparameters } },
    peftkit: { ...spec, step: 0, total_steps: null },
  };
}
