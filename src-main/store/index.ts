/** The workspace store: runs on disk, crash-safe writes, recovery, resume. Plain node:fs, no tfjs. */
export { Workspace, pidAlive, makeId, checkName } from './workspace';
export type { StudyRecord, WorkspaceOptions, CreateRunOptions, RunPatch } from './workspace';
export { StoreError, isDiskFull } from './errors';
export type { StoreErrorCode } from './errors';
export { nodeFileLayer, tmpOwner } from './file-layer';
export type { FileLayer, FsLike } from './file-layer';
export { encodeTrainState, decodeTrainState, encodeWeights, decodeWeights, NLCK_MAGIC, NLCK_VERSION } from './checkpoint-format';
export { crc32 } from './crc32';
export type { JsonlRead } from './jsonl';
