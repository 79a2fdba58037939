import { Command, CommanderError } from "commander";
import { registerInspect } from "./commands/inspect.js";
import { registerSimulate } from "./commands/simulate.js";
import { registerRuntimeCommands } from "./commands/runtime.js";
import { CliError, EXIT } from "./errors.js";

const program = new Command("sluice")
  .description("Sluice: ETL pipelines whose jobs never fight each other")
  .version("0.1.0")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

registerInspect(program);
registerSimulate(program);
registerRuntimeCommands(program);

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
    process.stderr.write(`sluice: ${e.message}${typeof code === "string" ? ` (${code})` : ""}\n`);
    if (process.env.SLUICE_DEBUG) process.stderr.write(`${e.stack ?? ""}\n`);
    process.exitCode = EXIT.failure;
  }
}
