export { createObservabilityServer } from './httpServer.js';
export type { ObservabilityServer, ObservabilityConfig } from './httpServer.js';
