export * from './batch.js';
export * from './errors.js';
export * from './lifecycle.js';
export * from './logger.js';
export * from './deferred.js';
export * from './guard.js';
export * from './telemetry.js';
export * from './describe.js';
