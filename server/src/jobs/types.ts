/**
 * Fine-tuning as a service: OpenAI-shaped objects (File, FineTuningJob, events, checkpoints) and the ports the
 * server needs from the application: where records live (JobStore/FileStore), how jobs reach a worker (JobQueue)
 * and who trains (JobRunner). The server never imports a method plugin: the app composes the runner.
 */

export type JobStatus = 'validating_files' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'paused';

/** Statuses after which a job never runs again. */
export const TERMINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled']);

/** OpenAI's `file` object (purpose fine-tune only here). */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: 'fine-tune';
  status: 'processed';
  status_details?: string;
}

export interface StoredFile {
  file: FileObject;
  /** Tenant: a hash of the API key that uploaded it. */
  owner: string;
  /** Records found at upload (validation), for the job's trained_tokens estimate and events. */
  records: number;
}

export interface Hyperparameters {
  n_epochs: number | 'auto';
  batch_size: number | 'auto';
  learning_rate_multiplier: number | 'auto';
}

/** The `peftkit` object of a create request: any registered method plugin, its config and training overrides. */
export interface PeftkitSpec {
  method: string;
  config: Record<string, unknown>;
  steps?: number;
  lr?: number;
  /** Training options as `peftkit train --config {"training": …}` takes them (saveEvery, evalEvery, …). */
  training?: Record<string, unknown>;
}

/** OpenAI's `fine_tuning.job` object, plus `peftkit` (the method and where it is). */
export interface FineTuningJob {
  id: string;
  object: 'fine_tuning.job';
  created_at: number;
  error: { code: string; message: string; param: string | null } | null;
  fine_tuned_model: string | null;
  finished_at: number | null;
  hyperparameters: Hyperparameters;
  model: string;
  organization_id: string;
  result_files: string[];
  seed: number;
  status: JobStatus;
  trained_tokens: number | null;
  training_file: string;
  validation_file: string | null;
  estimated_finish: number | null;
  integrations: [];
  metadata: Record<string, string> | null;
  user_provided_suffix: string | null;
  method: { type: 'supervised'; supervised: { hyperparameters: Hyperparameters } };
  peftkit: PeftkitSpec & { step: number; total_steps: number | null };
}

export interface JobRecord {
  job: FineTuningJob;
  owner: string;
  /** Adapter name under the served adapter root (the job id; checkpoints: `<id>.ckpt-step-<n>`). */
  adapter: string;
}

export interface JobEvent {
  id: string;
  object: 'fine_tuning.job.event';
  created_at: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  type: 'message' | 'metrics';
  data: Record<string, unknown> | null;
}

export interface JobCheckpoint {
  id: string;
  object: 'fine_tuning.job.checkpoint';
  created_at: number;
  fine_tuned_model_checkpoint: string;
  fine_tuning_job_id: string;
  step_number: number;
  metrics: { step: number; train_loss?: number; valid_loss?: number };
}

export type ControlAction = 'cancel' | 'pause';

/** Files by id, each with its owner. */
export interface FileStore {
  putFile(record: StoredFile, bytes: Uint8Array): Promise<void>;
  getFile(id: string): Promise<StoredFile | null>;
  fileContent(id: string): Promise<Uint8Array | null>;
  /** A local path of the content, for the runner (the store is a shared filesystem). */
  filePath(id: string): string;
  listFiles(): Promise<StoredFile[]>;
  deleteFile(id: string): Promise<boolean>;
}

/** Job records, their events and checkpoints, and the cancel/pause requests a worker polls at every step. */
export interface JobStore {
  putJob(record: JobRecord): Promise<void>;
  getJob(id: string): Promise<JobRecord | null>;
  listJobs(): Promise<JobRecord[]>;
  /** Read-modify-write of one record (serialized within the process); `change` returns null to leave it as it is. */
  updateJob(id: string, change: (record: JobRecord) => JobRecord | null): Promise<JobRecord | null>;
  appendEvent(id: string, event: JobEvent): Promise<void>;
  /** Oldest first. */
  events(id: string): Promise<JobEvent[]>;
  appendCheckpoint(id: string, checkpoint: JobCheckpoint): Promise<void>;
  checkpoints(id: string): Promise<JobCheckpoint[]>;
  requestControl(id: string, action: ControlAction | null): Promise<void>;
  control(id: string): Promise<ControlAction | null>;
  /** Where the runner keeps checkpoints of this job (survives the worker: another one resumes from it). */
  workDir(id: string): string;
}

/** Hands jobs to workers: in-process (EmbeddedQueue) or BullMQ on Redis (the app's). */
export interface JobQueue {
  enqueue(jobId: string): Promise<void>;
  /** Stops a job this process runs after its current step (others see the store's control request). */
  interrupt?(jobId: string): void;
  close(): Promise<void>;
}

/** What a worker gives the runner. */
export interface RunInput {
  readonly job: FineTuningJob;
  readonly trainingFile: string;
  readonly validationFile: string | null;
  /** Checkpoints go here; a run that finds one continues from the latest (exact resume). */
  readonly workDir: string;
  /** The adapter's name under the served adapter root; the runner writes the final adapter there. */
  readonly adapter: string;
  /** Aborted on cancel/pause/shutdown: the runner stops after the current step and checkpoints. */
  readonly signal: AbortSignal;
  /** Called after every optimizer step; resolves once cancel/pause requests were looked at. */
  progress(event: { step: number; totalSteps: number; loss: number; tokens: number }): Promise<void>;
  eval(event: { step: number; loss: number }): Promise<void>;
  /** A checkpoint was written (and published as adapter `name` under the root when it is servable). */
  checkpoint(event: { step: number; dir: string; name: string | null; loss: number | null }): Promise<void>;
  message(text: string, data?: Record<string, unknown>): Promise<void>;
}

export interface RunResult {
  /** false: stopped by the signal (a checkpoint holds the steps made). */
  completed: boolean;
  step: number;
  totalSteps: number;
  trainedTokens: number;
}

export interface JobRunner {
  run(input: RunInput): Promise<RunResult>;
}
