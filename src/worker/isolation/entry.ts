/**
 * Where the program of an isolated attempt ({@link ./child.ts}) is, and how to start it: the
 * compiled `child.js` next to this file in the package (`dist/`), or, when Sluice itself runs from
 * its TypeScript source (its own tests), `child.ts` through tsx.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** How to start the child program. */
export interface ChildEntry {
  /** The file to run. */
  file: string;
  /** Set when `file` is TypeScript: the URL of tsx's loader (`--import`) and of its `tsImport` API (threads). */
  tsx?: { loader: string; api: string };
}

let cached: ChildEntry | undefined;

/** The child program of this installation. */
export function childEntry(): ChildEntry {
  if (cached) return cached;
  const js = fileURLToPath(new URL("./child.js", import.meta.url));
  if (existsSync(js)) return (cached = { file: js });
  const ts = fileURLToPath(new URL("./child.ts", import.meta.url));
  // Not import.meta.resolve: test runners that transform this file (vitest) may not provide it.
  const tsx = dirname(createRequire(import.meta.url).resolve("tsx/package.json"));
  const url = (path: string): string => pathToFileURL(join(tsx, path)).href;
  return (cached = { file: ts, tsx: { loader: url("dist/loader.mjs"), api: url("dist/esm/api/index.mjs") } });
}
