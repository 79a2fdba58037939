#!/usr/bin/env node
// The CLI runs the compiled JavaScript in dist/ (built by `npm run build`, which `npm install`
// from git and `npm pack` run through `prepare`). TypeScript is compiled on the fly only for the
// user's config and the modules it imports (src/cli/load-config.ts).
import { setFlagsFromString } from "node:v8";

// Start-up runs once: V8's optimizing compiler stays off until the command's real work begins
// (src/cli/startup.ts says why and turns it back on).
setFlagsFromString("--no-turbofan");
try {
  await import("../dist/cli/main.js");
} catch (err) {
  if (err && err.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes("dist/cli/main.js")) {
    process.stderr.write("sluice: the compiled CLI (dist/) is missing; run `npm run build` in the Sluice folder\n");
    process.exit(2);
  }
  throw err;
}
