export { transform } from './transform.js';
