/**
 * stitchnet — run a stitched (SN-Net) model family and switch between its accuracy/cost
 * trade-offs at runtime. Only the exports of this file are public.
 */
export {
  StitchnetError,
  PackageError,
  OnnxError,
  RuntimeError,
  ProfileError,
  SignalError,
  BuilderError,
  OptionError,
  isStitchnetError,
} from './errors.js';
export type { StitchnetErrorCode, StitchnetErrorOptions } from './errors.js';
