#!/usr/bin/env node
// The CLI runs from TypeScript source through tsx, which also lets it import the user's
// `sluice.config.ts` directly: no build step for the user or for a fresh clone.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
