// Issue 7, items 2–4: the embedded store is never lost or shared silently.
// - Read commands open the store read-only: they work on a store the user may only read, and never
//   create one ("no store at …", exit 2).
// - A store deleted under a running scheduler is noticed within seconds (exit 1), and a second
//   scheduler on the same path is refused meanwhile (an OS lock, not only a row).
// - A damaged store is refused at start with what to do; `sluice backup` copies a live store.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, openSync, readdirSync, rmSync, statSync, writeSync, closeSync, copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { BIN } from "./spawn.js";
import { disposeSandboxes, fixture, sandbox, sleep } from "./helpers.js";

const homes: string[] = [];
afterAll(async () => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
  await disposeSandboxes();
});

const CONTROL = fixture("control");
const SKIP = fixture("overlap-skip");

/** `sluice <args>` as the unprivileged user `nobody` (the tests run as root, which ignores file modes). */
function asNobody(args: readonly string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // This machine's /tmp is not world-writable; a user's temp folder is theirs.
    const home = mkdtempSync(join(tmpdir(), "sluice-nobody-"));
    chmodSync(home, 0o777);
    homes.push(home);
    const env = { PATH: process.env.PATH ?? "", HOME: home, TMPDIR: home, NO_COLOR: "1" };
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env, uid: 65534, gid: 65534, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("read commands", () => {
  it("say there is no store, exit 2, and create nothing", async () => {
    const box = await sandbox();
    // All at once: none may create the store, so none can make it exist for another.
    const commands = [["runs"], ["history"], ["pools", "-c", CONTROL], ["explain", "1", "-c", CONTROL]];
    for (const r of await Promise.all(commands.map((args) => box.cli(args)))) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^sluice: no store at .*s\.db; it is created by `sluice run`/);
    }
    const nowhere = await box.cli(["runs", "--db", join(box.dir, "no/such/dir/x.db")], { db: false });
    expect(nowhere.code).toBe(2);
    expect(existsSync(join(box.dir, "no"))).toBe(false);
    expect(readdirSync(box.dir).filter((f) => f.endsWith(".db"))).toEqual([]);
  });

  it("work on a store the user may only read", async () => {
    const box = await sandbox();
    const trig = await box.cli(["trigger", "quick", "-c", CONTROL, "--wait"]);
    expect(trig.code, trig.stderr).toBe(0);
    chmodSync(box.dir, 0o755);
    for (const f of readdirSync(box.dir)) chmodSync(join(box.dir, f), 0o444);
    chmodSync(box.dir, 0o555);
    try {
      // All at once (read-only, every one of them).
      const commands = [["runs", "--json"], ["history", "--json"], ["pools", "--json"], ["explain", "1", "--json"]];
      const results = await Promise.all(commands.map((args) => asNobody([...args, "-c", CONTROL, "--db", box.db], box.dir)));
      for (const [i, r] of results.entries()) expect(r.code, `${commands[i]!.join(" ")}: ${r.stderr}`).toBe(0);
      const runs = await asNobody(["runs", "--json", "--db", box.db], box.dir);
      expect((JSON.parse(runs.stdout) as RunRecord[]).map((r) => [r.pipeline, r.state])).toEqual([["quick", "success"]]);
    } finally {
      chmodSync(box.dir, 0o755);
    }
  });
});

describe("the store file", () => {
  it("deleted under a running scheduler: it stops within seconds with exit 1, and no second scheduler runs beside it", async () => {
    const box = await sandbox();
    const first = await box.started(["run", SKIP, "--lease-ttl", "3s"]);
    await box.waitForObservation((o) => o.find((x) => x.event === "start"), "a run to start");
    for (const f of readdirSync(box.dir)) if (f.startsWith("s.db")) rmSync(join(box.dir, f));
    const deletedAt = Date.now();
    // A second scheduler on the same path while the first still runs: refused by the OS lock.
    const second = await box.cli(["run", SKIP, "--for", "1s"]);
    if (!first.hasExited) {
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(/another scheduler is running on this store/);
    }
    const end = await first.exited;
    expect(end.code).toBe(1);
    expect(Date.now() - deletedAt).toBeLessThan(8_000);
    // "replaced" when the refused second `run` had already created a new file at the path by the
    // time the first one looked: both are true, and both stop it.
    expect(end.stderr).toMatch(/the store file .*s\.db was (deleted|replaced) while Sluice was using it/);
    // Now the path is free: a new scheduler starts on a new, empty store.
    const third = await box.cli(["run", SKIP, "--for", "1500ms"]);
    expect(third.code, third.stderr).toBe(0);
  }, 60_000);

  it("damaged: sluice run refuses it and says how to recover; sluice backup copies a live store", async () => {
    const box = await sandbox();
    const run = await box.started(["run", CONTROL]);
    // Three at once, by the running scheduler's recorded definitions.
    for (const t of await Promise.all([1, 2, 3].map(() => box.cli(["trigger", "quick"])))) expect(t.code, t.stderr).toBe(0);
    const backup = join(box.dir, "backup.db");
    const b = await box.cli(["backup", backup]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/^backed up .*s\.db to .*backup\.db/);
    expect((await box.cli(["backup", backup])).stderr).toMatch(/already exists; pass --force/);
    run.kill("SIGTERM");
    await run.exited;
    const fromBackup = await box.json<RunRecord[]>(["runs", "--db", `file:${backup}`]);
    expect(fromBackup.length).toBeGreaterThanOrEqual(1);

    // One page of a copy overwritten with garbage.
    const dir = mkdtempSync(join(tmpdir(), "sluice-corrupt-"));
    try {
      const damaged = join(dir, "damaged.db");
      copyFileSync(backup, damaged);
      const pageSize = 4096;
      expect(statSync(damaged).size).toBeGreaterThan(3 * pageSize);
      const fd = openSync(damaged, "r+");
      writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, 2 * pageSize);
      closeSync(fd);
      const r = await box.cli(["run", CONTROL, "--db", `file:${damaged}`, "--for", "1s"], { db: false });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^sluice: the store .*damaged\.db is damaged \(.+\)\. Restore a backup/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("not a database at all: refused with the same advice", async () => {
    const box = await sandbox();
    const file = join(box.dir, "s.db");
    const fd = openSync(file, "w");
    writeSync(fd, Buffer.from("this is a CSV export, not a Sluice store\n".repeat(200)));
    closeSync(fd);
    const r = await box.cli(["run", CONTROL, "--for", "1s"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sluice: the store .*s\.db is damaged \(file is not a database\)/);
    await sleep(10);
  });
});
