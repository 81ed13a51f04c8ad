export { extractFeatures, projectRecord, planColumns } from './project.js';
export { convertValue } from './convert.js';
