import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { CliError } from "../errors.js";
import { CONFIG_OPTION, DB_OPTION, type StoreOption } from "../options.js";

export function registerBackup(program: Command): void {
  program
    .command("backup")
    .description("copy the embedded store to a file, consistent at one instant, while Sluice runs (SQLite online backup)")
    .argument("<file>", "where to write the copy")
    .option(...CONFIG_OPTION)
    .option(...DB_OPTION)
    .option("--force", "overwrite the file if it exists")
    .action(async (file: string, opts: StoreOption & { force?: boolean }) => {
      const { storeFrom, storeLocation } = await import("../context.js");
      const target = resolve(file);
      if (existsSync(target) && !opts.force) throw new CliError(`${target} already exists; pass --force to overwrite it`);
      const location = storeLocation(opts);
      if (location.kind !== "sqlite") throw new CliError(`sluice backup copies the embedded store; for PostgreSQL use its own tools (pg_dump --schema=${location.schema})`);
      const from = location.path;
      if (resolve(from) === target) throw new CliError(`the backup would overwrite the store itself (${from}); name another file`);
      const store = await storeFrom(opts, { readonly: true });
      try {
        if (!store.backup) throw new CliError(`the ${store.kind} store has no built-in backup; use the database's own tools (pg_dump for PostgreSQL)`);
        const started = Date.now();
        await store.backup(target);
        process.stdout.write(`backed up ${from} to ${target} in ${Date.now() - started} ms\n`);
      } finally {
        await store.close();
      }
    });
}
