/**
 * The stitch-package format: a folder with `stitchnet.json` and `pieces/*.onnx`.
 */
export * from './schema.js';
export {
  readPackage,
  modelsChecked,
  pieceUnchanged,
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_MANIFEST_BYTES,
} from './read.js';
export { findInstalledPackage, isPackageName, resolveModel } from './resolve.js';
export type { ReadPackageOptions, StitchPackage } from './read.js';
export { writePackage, rewriteManifest, EXTERNAL_DATA_AUTO_BYTES, EXTERNAL_DATA_MODES } from './write.js';
export type { ExternalDataMode, ManifestDraft, PieceDraft, WritePackageInput } from './write.js';
export { checkExternalData, dataLocation } from './files.js';
export { expandRoute } from './route.js';
export { hashFile, sha256 } from './hash.js';
export { parseManifest, checkManifest, shapesEqual } from './validate.js';
export { fetchPackage } from './fetch.js';
export type { FetchPackageOptions, FetchProgress } from './fetch.js';
