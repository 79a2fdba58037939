/**
 * Child process of the multi-process store test: opens (and migrates) the store at argv[2], then
 * tries to create the scheduled run for one fixed tick with run id argv[3]. Prints "created" or
 * the error code, so the parent can check that exactly one process wins.
 */
import { SqliteStore } from "../../../src/store/sqlite/sqlite-store.js";
import { createRun, T0 } from "../fixtures.js";

const [path = "", id = "0"] = process.argv.slice(2);
const store = await SqliteStore.open(path);
try {
  await store.apply([createRun(Number(id), ["a"], { scheduledFor: T0 })]);
  process.stdout.write("created");
} catch (error) {
  process.stdout.write(String((error as { code?: unknown }).code ?? error));
} finally {
  await store.close();
}
