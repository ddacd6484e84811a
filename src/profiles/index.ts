/**
 * Profiles: the format (zod schema, types, JSON Schema), parsing with located errors, loading and
 * hot reload.
 */
export * from './schema.js';
export {
  parseProfile,
  profileFromObject,
  validateProfileText,
  profileError,
  validKeysAt,
  type ParseProfileOptions,
  type ProfileCheckIssue,
  type ProfileIssue,
  type ProfileValidation,
} from './parse.js';
export {
  loadProfile,
  loadProfileSync,
  watchProfile,
  fileChanges,
  profilesInForce,
  type ProfileEvent,
  type WatchProfileOptions,
} from './load.js';
export { profileJsonSchema } from './json-schema.js';
export { resolveProfileFile, shippedProfileNames, shippedProfilesDir } from './shipped.js';
