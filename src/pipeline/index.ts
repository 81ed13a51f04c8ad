export { createPipeline } from './pipeline.js';
export type { Pipeline, PipelineDeps } from './pipeline.js';
export { prepareStages } from './prepare.js';
export { resolveWorkers } from './laneWorkers.js';
export { statCpuSeconds, THREAD_CPU_METRIC, TICKS_PER_SECOND } from './threadCpu.js';
