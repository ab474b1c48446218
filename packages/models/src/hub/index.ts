export type { FetchedFile, FileProgress } from './fetch-file.ts';
export {
  type DownloadedFile,
  type DownloadModelOptions,
  type DownloadModelResult,
  downloadModel,
  type HubOptions,
  listRepoFiles,
} from './download.ts';
export { DEFAULT_HUB_ENDPOINT, type FetchLike } from './request.ts';
