/** The replay: the engine (./engine.ts), its input and output (./types.ts) and the scorer (./score.ts). */
export { fitLine, type ReplayOptions, replayHost } from './engine.js';
export * from './score.js';
export * from './types.js';
