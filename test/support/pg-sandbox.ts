/**
 * CLI test sandboxes whose store is a fresh PostgreSQL schema, for the files that run `sluice
 * scheduler`, `sluice worker` or `sluice run` on PostgreSQL. One {@link pgSandboxes} per file:
 * its `dispose` (in `afterAll`) kills what still runs, removes the folders and drops the schemas.
 *
 * Kept apart from test/cli/helpers.ts: the fixture configs import that module inside the CLI's
 * process, which must load neither pg nor the store's code.
 */
import { disposeSandboxes, sandbox, type Sandbox } from "../cli/helpers.js";
import { dropSchemas, freshSchema, pgUrl } from "./pg.js";
import { migrateStore } from "./store.js";

/** A sandbox on a schema of its own. */
export type PgSandbox = Sandbox & { readonly schema: string };

export interface PgSandboxes {
  /**
   * A sandbox on a fresh schema, migrated as `sluice migrate` does (without a child process), or
   * left for the test to create when `migrate` is false (a test of `sluice migrate` itself, or of
   * processes that migrate it at once).
   */
  create(options?: { migrate?: boolean }): Promise<PgSandbox>;
  /** Everything the file's sandboxes left: processes, folders, schemas. */
  dispose(): Promise<void>;
}

export function pgSandboxes(prefix: string): PgSandboxes {
  const schemas: string[] = [];
  return {
    async create({ migrate = true } = {}) {
      const schema = freshSchema(prefix);
      schemas.push(schema);
      const box = Object.assign(await sandbox({ db: pgUrl(schema) }), { schema });
      if (migrate) await migrateStore(box.db);
      return box;
    },
    async dispose() {
      await disposeSandboxes();
      await dropSchemas(...schemas.splice(0));
    },
  };
}
