/** The shared base: small helpers open to every area. */
export * from './stats.js';
export * from './random.js';
export * from './field-path.js';
export * from './optional.js';
