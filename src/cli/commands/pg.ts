import type { Command } from "commander";
import { CliError, EXIT } from "../errors.js";
import { JSON_OPTION } from "../options.js";

/** `sluice pg blockers`: who blocks whom on a PostgreSQL database, as a tree. */
export function registerPg(program: Command): void {
  const pgCmd = program.command("pg").description("PostgreSQL tools of sluice/pg");
  pgCmd
    .command("blockers")
    .description("who blocks whom right now (pg_blocking_pids), as a tree: pid, application_name, state, transaction age, query")
    .requiredOption("--db <url>", "the PostgreSQL database to inspect, e.g. postgres://user@host/db")
    .option(...JSON_OPTION)
    .option("--watch [seconds]", "print again every n seconds (default 2) until interrupted")
    .action(async (opts: { db: string; json?: boolean; watch?: string | boolean }) => {
      const [{ default: pg }, { blockingTree, renderTree }] = await Promise.all([import("pg"), import("../../pg/index.js")]);
      const every = opts.watch === undefined || opts.watch === false ? 0 : opts.watch === true ? 2 : Number(opts.watch);
      if (!Number.isFinite(every) || every < 0) throw new CliError(`--watch takes a number of seconds, got ${JSON.stringify(opts.watch)}`);
      const client = new pg.Client({ connectionString: opts.db, application_name: "sluice pg blockers" });
      try {
        await client.connect();
      } catch (err) {
        throw new CliError(`cannot connect to ${opts.db.replace(/\/\/[^@/]*@/, "//…@")}: ${(err as Error).message}`, EXIT.failure);
      }
      let stop = false;
      process.once("SIGINT", () => (stop = true));
      try {
        for (;;) {
          const roots = await blockingTree(client);
          if (opts.json) process.stdout.write(JSON.stringify({ at: new Date().toISOString(), roots }) + "\n");
          else process.stdout.write((every > 0 ? `-- ${new Date().toISOString()}\n` : "") + renderTree(roots));
          if (every === 0 || stop) break;
          await new Promise((r) => setTimeout(r, every * 1000));
          if (stop) break;
        }
      } finally {
        await client.end();
      }
    });
}
