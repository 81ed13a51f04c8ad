export { transform, prepareTransform } from './transform.js';
export type { CompiledTransform } from './transform.js';
export type { CustomTransform } from './steps.js';
export { EXPRESSION_FUNCTIONS } from './expressions.js';
