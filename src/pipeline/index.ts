export { createPipeline } from './pipeline.js';
export type { Pipeline, PipelineDeps } from './pipeline.js';
export { prepareStages } from './prepare.js';
export { resolveWorkers } from './laneWorkers.js';
export { statCpuSeconds, THREAD_CPU_METRIC } from './threadCpu.js';
