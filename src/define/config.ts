import type { SluiceConfig } from "./types.js";

/** Marks objects returned by {@link defineConfig}; a registered symbol so any copy of Sluice sees it. */
export const CONFIG_BRAND: unique symbol = Symbol.for("sluice.config");

/** True for objects returned by {@link defineConfig}, whichever copy of Sluice made them. */
export function isDefinedConfig(value: unknown): value is SluiceConfig {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[CONFIG_BRAND] === true;
}

/**
 * Types a Sluice configuration; export its result as the default export of `sluice.config.ts`.
 * It checks nothing at this point, so that `sluice inspect` can list every problem at once;
 * `resolveConfig` validates it and applies the defaults.
 *
 * @example
 * export default defineConfig({
 *   pools: { warehouse_db: { slots: 10 } },
 *   pipelines: [sales],
 * });
 */
export function defineConfig(config: SluiceConfig): SluiceConfig {
  // A shallow copy carries the brand, so a frozen or shared user object is never mutated.
  const branded = { ...config };
  Object.defineProperty(branded, CONFIG_BRAND, { value: true, enumerable: false });
  return branded;
}
