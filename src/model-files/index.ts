/** Model weights: folder layout, sources, start-up check, download (`npm run models:pull`). */
export * from './layout.ts';
export * from '../engine/models/expected.ts';
export { checkFile, compareTensors, engineListTensors, moveAside, readSafetensorsHeader, type CheckResult, type ListTensors, type TensorInfo } from './verify.ts';
export { download, DownloadError, type DownloadOptions, type DownloadResult, type DownloadErrorKind } from './download.ts';
export { pullModels, type PullOptions, type PullResult, type PullFileResult, type FileStatus } from './pull.ts';
export { readManifest, sha256File, type Manifest, type ManifestEntry } from './manifest.ts';
