/** `databases` in the config: checked like every other option, defaults applied, never stored. */
import { describe, expect, it } from "vitest";
import { DATABASE_DEFAULTS, defineConfig, formatProblems, pipeline, resolveConfig, type ConfigProblem } from "../../src/define/index.js";
import { definitionsOf } from "../../src/define/stored.js";
import { describeConfig } from "../../src/cli/commands/inspect.js";

function config(databases: unknown, pools: Record<string, { slots: number }> = { warehouse_db: { slots: 4 } }) {
  const p = pipeline("p");
  p.task("t", { pools: { warehouse_db: 1 } }, () => undefined);
  return { ...defineConfig({ pools, pipelines: [p] }), databases } as never;
}

function problemsOf(c: unknown): ConfigProblem[] {
  const r = resolveConfig(c);
  if (r.ok) throw new Error("expected the config to be rejected");
  return r.problems;
}

describe("databases", () => {
  it("applies the documented defaults and keeps URLs (and { env } names) out of the stored definitions", () => {
    const r = resolveConfig(config({ warehouse: { url: "postgres://etl:secret@db:5432/dw", pool: "warehouse_db" }, replica: { url: { env: "REPLICA_URL" }, pool: "warehouse_db", maxLifetime: "5m", retries: 0 } }));
    if (!r.ok) throw new Error(formatProblems(r.problems));
    expect(r.config.databases).toEqual({
      warehouse: { name: "warehouse", url: { kind: "url", url: "postgres://etl:secret@db:5432/dw" }, pool: "warehouse_db", connectTimeoutMs: 10_000, idleTimeoutMs: 30_000, maxLifetimeMs: 1_800_000, checkoutTimeoutMs: 30_000, retries: 3, retryDelayMs: 250, description: undefined },
      replica: { name: "replica", url: { kind: "env", env: "REPLICA_URL" }, pool: "warehouse_db", connectTimeoutMs: 10_000, idleTimeoutMs: 30_000, maxLifetimeMs: 300_000, checkoutTimeoutMs: 30_000, retries: 0, retryDelayMs: 250, description: undefined },
    });
    expect(DATABASE_DEFAULTS).toEqual({ connectTimeout: "10s", idleTimeout: "30s", maxLifetime: "30m", checkoutTimeout: "30s", retries: 3, retryDelay: "250ms" });
    const stored = JSON.stringify(definitionsOf(r.config));
    expect(stored).not.toContain("secret");
    expect(stored).not.toContain("REPLICA_URL");
    // `sluice inspect --json` shows them with the password hidden.
    expect((describeConfig(r.config).databases as Array<{ name: string; url: string }>).map((d) => [d.name, d.url])).toEqual([
      ["warehouse", "postgres://etl:***@db:5432/dw"],
      ["replica", "$REPLICA_URL"],
    ]);
  });

  it("refuses a database tied to an undeclared pool, naming the path, the nearest pool and the fix", () => {
    const problems = problemsOf(config({ warehouse: { url: "postgres://db/dw", pool: "warehouse" } }));
    expect(problems).toEqual([
      {
        path: "databases.warehouse.pool",
        field: "pool",
        message:
          'database "warehouse" is tied to pool "warehouse", which is not declared. Did you mean "warehouse_db"? Declared pools: "warehouse_db". ' +
          "Its connections are capped by that pool's slots, so declare it: defineConfig({ pools: { warehouse: { slots: 4 } } }), or name a declared pool.",
      },
    ]);
  });

  it("reports every bad option at once, each at its path with what to write", () => {
    const problems = problemsOf(
      config({
        a: { url: "mysql://db/dw", pool: "warehouse_db", connectTimeout: "0s", retries: -1 },
        b: { url: undefined, pool: "warehouse_db", idle: "30s" },
        c: { url: { env: "1BAD" }, pool: "warehouse_db" },
        "bad name": { url: "postgres://db/x", pool: "warehouse_db" },
        d: "postgres://db/dw",
      }),
    );
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    expect(byPath["databases.a.url"]).toMatch(/^databases\.a\.url must be a connection URL like "postgres:\/\/user@host:5432\/db", or \{ env: "WAREHOUSE_URL" \} .* \(got a string that is not a postgres:\/\/ URL\)\.$/);
    expect(byPath["databases.a.connectTimeout"]).toMatch(/^databases\.a\.connectTimeout must be a positive duration \(0 would mean no time at all\)/);
    expect(byPath["databases.a.retries"]).toBe("databases.a.retries must be a whole number of 0 or more (got -1); use 0 to fail at the first connection error.");
    expect(byPath["databases.b.url"]).toMatch(/\(got undefined\)\. A value read from process\.env at config load may be unset\.$/);
    expect(byPath["databases.b.idle"]).toMatch(/^unknown option "idle"; known options are "url", "pool", "connectTimeout", "idleTimeout",/);
    expect(byPath["databases.c.url"]).toMatch(/\(got \{ env: "1BAD" \}, which is not an environment variable name \(letters, digits and _, not starting with a digit\)\)\.$/);
    expect(byPath["databases.bad name"]).toMatch(/database name "bad name" is not valid; use letters, digits, _ and - only/);
    expect(byPath["databases.d"]).toBe('databases.d must be an object (got "postgres://db/dw").');
  });
});
