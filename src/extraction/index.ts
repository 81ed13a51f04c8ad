export { extractFeatures, type WindowCounts } from './extract.js';
export { commitMetadataProblem } from './commitMetadata.js';
export { projectRecord, planColumns } from './project.js';
export { convertValue } from './convert.js';
export { windowStarts, createLaneWindows } from './windows/laneWindows.js';
export { APPROX_DISTINCT_ERROR } from './windows/states.js';
