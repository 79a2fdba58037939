import type { Command } from "commander";
import { CONFIG_OPTION, DB_OPTION, JSON_OPTION, durationOption, type StoreOption } from "../options.js";

export function registerPrune(program: Command): void {
  program
    .command("prune")
    .description("delete finished runs (with their attempts and events) that ended more than --older-than ago; active runs are never touched")
    .requiredOption("--older-than <duration>", "e.g. 30d; the config's `retention` does the same while Sluice runs")
    .option(...CONFIG_OPTION)
    .option(...DB_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: StoreOption & { olderThan: string; json?: boolean }) => {
      const { storeFrom } = await import("../context.js");
      const olderThan = await durationOption(opts.olderThan, "--older-than");
      const before = Date.now() - olderThan;
      const store = await storeFrom(opts, { readonly: false, mustExist: true });
      try {
        const total = { runs: 0, attempts: 0, events: 0, requests: 0 };
        for (let more = true; more; ) {
          const r = await store.prune(before, 500);
          total.runs += r.runs;
          total.attempts += r.attempts;
          total.events += r.events;
          total.requests += r.requests;
          more = r.more;
        }
        if (opts.json) process.stdout.write(JSON.stringify({ before: new Date(before).toISOString(), ...total }) + "\n");
        else process.stdout.write(`deleted ${total.runs} run(s), ${total.attempts} attempt(s), ${total.events} event(s) and ${total.requests} answered request(s) that ended before ${new Date(before).toISOString()}\n`);
      } finally {
        await store.close();
      }
    });
}
