import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerBackup } from "./commands/backup.js";
import { registerInit } from "./commands/init.js";
import { registerPrune } from "./commands/prune.js";
import { registerMigrate } from "./commands/migrate.js";
import { registerWorker } from "./commands/worker.js";
import { registerPg } from "./commands/pg.js";
import { registerInspect } from "./commands/inspect.js";
import { registerSimulate } from "./commands/simulate.js";
import { registerAnalyze } from "./commands/analyze.js";
import { registerRuntimeCommands } from "./commands/runtime.js";
import { CliError, EXIT } from "./errors.js";
import { startupDone } from "./startup.js";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

/** Every environment variable Sluice reads, shown by `sluice --help` and in the README. */
export const ENVIRONMENT = `
Environment:
  SLUICE_CONFIG          config file, when -c is not given (default: sluice.config.* here or in a parent folder)
  SLUICE_DATABASE_URL    store, when --db is not given (default: .sluice/sluice.db beside the config)
  SLUICE_LOG_LEVEL       log level, when --log-level is not given: trace, debug, info, warn, error, fatal, silent (default: info)
  SLUICE_DEBUG           set to 1 to print the stack of an unexpected error
  SLUICE_LOG_FORMAT      json: JSON log lines even on a terminal (default: readable there, JSON otherwise)
  SLUICE_PORT            run/scheduler: the dashboard and HTTP API's port, when --port is not given (default 7070; 0: any free)
  SLUICE_HOST            run/scheduler: the address it listens on (default 127.0.0.1; other addresses need a token)
  SLUICE_TOKEN           run/scheduler: the token every HTTP request must carry, when --token is not given
  SLUICE_HEAP_GROWING_PERCENT  run/scheduler/worker: heap growth past the last full GC, in % (default 100; 0: V8's own)
  NO_COLOR               no colours in the live view

Exit codes: 0 success · 1 a run or task failed · 2 usage or configuration error`;

const program = new Command("sluice")
  .description("Sluice: ETL pipelines whose jobs never fight each other")
  .version(version, "-V, --version")
  .showHelpAfterError("(run with --help for usage)")
  .configureOutput({
    // One shape for every error: "sluice: <what>" (commander's own say "error: …").
    outputError: (text, write) => write(`sluice: ${text.replace(/^error: /, "")}`),
  })
  .addHelpText("after", ENVIRONMENT)
  .exitOverride();

registerInit(program);
registerInspect(program);
registerSimulate(program);
registerAnalyze(program);
registerRuntimeCommands(program);
registerBackup(program);
registerPrune(program);
registerMigrate(program);
registerWorker(program);
registerPg(program);

// A command that loads a config ends its start-up there (loadConfig); any other, a second from now
// at the latest (a timer: a command busy with real work by then yields to it while it waits on I/O).
setTimeout(startupDone, 1000).unref();
try {
  await program.parseAsync(process.argv);
  // The command is done. An inline task that ignored its abort signal (after a timeout) may
  // still hold timers; it must not keep the CLI from exiting. Logs are flushed by then.
  setTimeout(() => process.exit(), 2000).unref();
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not errors; every usage mistake exits 2.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (err instanceof CliError) {
    process.stderr.write(`sluice: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    const e = err instanceof Error ? err : new Error(String(err));
    const code = (e as { code?: unknown }).code;
    const isConfig = code === "SLUICE_CONFIG_INVALID";
    process.stderr.write(`sluice: ${e.message}${typeof code === "string" && !isConfig ? ` (${code})` : ""}\n`);
    if (process.env.SLUICE_DEBUG) process.stderr.write(`${e.stack ?? ""}\n`);
    process.exitCode = isConfig ? EXIT.usage : EXIT.failure;
  }
}
