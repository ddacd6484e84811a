/** The shared base: small helpers open to every area. */
export * from './stats.js';
export * from './random.js';
export * from './field-path.js';
export * from './text.js';
export * from './message.js';
export * from './providers.js';
export * from './describe.js';
export * from './optional.js';
export * from './macs.js';
