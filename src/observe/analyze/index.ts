/**
 * `sluice analyze`: pure analysis of job history (no I/O). Parse records, sweep a timeline, find
 * peaks, saturated pools and overlapping groups, and search schedule offsets that lower peaks.
 */
export { AnalyzeInputError } from "./errors.js";
export { parseHistoryCsv, parseHistoryJson, parseTime, splitCsv } from "./parse.js";
export { timeline, peakOf, windowsWhere, poolSaturation, overlapMatrix, type PoolSaturation, type OverlapPair } from "./timeline.js";
export { suggestOffsets, replay, shift, detectPeriod, OFFSET_SEARCH_DEFAULTS, type OffsetPlan, type OffsetSuggestion, type OffsetSearchOptions, type LoadFigures } from "./offsets.js";
export { analyzeHistory, reportJson, type AnalyzeOptions, type AnalysisReport } from "./analyze.js";
export { formatReport, hourlyProfile, memory, span } from "./format.js";
export { renderHtml } from "./html.js";
export type { JobRecord, TimelineStep, Peak, Window } from "./types.js";
export { simulateDaily, type SimulatedFigures } from "./simulate-check.js";
export type { SimulationCheck } from "./analyze.js";
