import type { Command } from "commander";
import { CONFIG_OPTION, DB_OPTION, type StoreOption } from "../options.js";

export function registerMigrate(program: Command): void {
  program
    .command("migrate")
    .description("create or upgrade the store's tables (PostgreSQL: in its schema, default sluice) and exit; sluice run does this itself on start")
    .option(...CONFIG_OPTION)
    .option(...DB_OPTION)
    .action(async (opts: StoreOption) => {
      const [{ storeFrom, storeLocation, describeLocation }] = await Promise.all([import("../context.js")]);
      const location = storeLocation(opts);
      const started = Date.now();
      const store = await storeFrom(opts, { readonly: false });
      try {
        await store.migrate();
        process.stdout.write(`migrated ${describeLocation(location)} in ${Date.now() - started} ms\n`);
      } finally {
        await store.close();
      }
    });
}
