/** Fine-tuning as a service: objects, ports, the shared-filesystem store, the embedded queue and the executor. */
export * from './types.ts';
export { FsStore, isValidId, newId } from './fs-store.ts';
export { EmbeddedQueue } from './embedded-queue.ts';
export { executeJob, fineTunedName, jobEvent, type ExecuteOptions } from './executor.ts';
export {
  JobService,
  jobIdOfModel,
  paginate,
  type Caller,
  type CreateJobInput,
  type JobsOptions,
  type Page,
} from './service.ts';
export { validateTrainingFile } from './validate.ts';
