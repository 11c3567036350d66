/**
 * The toy loss landscape lives in src-main/contract/math/toy.ts because the renderer recomputes
 * it on every slider move and contract/ is the only src-main folder the renderer may import
 * (eslint.config.js). Node code imports it from here.
 */
export * from '../contract/math/toy';
