/** The definition API: what `sluice.config.ts` imports, and how the rest of Sluice validates it. */
export { defineConfig, isDefinedConfig } from "./config.js";
export { DEFAULTS, type SluiceDefaults } from "./defaults.js";
export { DATABASE_DEFAULTS, type DatabaseDefaults } from "./databases.js";
export { formatDuration, parseDuration } from "./duration.js";
export { formatSize, parseSize } from "./bytes.js";
export { ConfigError, formatProblems } from "./errors.js";
export { isPipelineDefinition, pipeline } from "./pipeline.js";
export { NOTIFY_DEFAULTS, NOTIFY_EVENTS, type NotifyDefaults } from "./notify.js";
export { resolveConfig, resolveConfigOrThrow, type ResolveResult } from "./validate.js";
export type * from "./resolved.js";
export type * from "./types.js";
