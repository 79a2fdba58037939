/**
 * Numbered plain-SQL migrations, shared by every store: which files exist, which are pending.
 * Applying them is the driver's job (each in its own transaction, recorded in `sluice_migrations`);
 * this module never touches a database, so the PostgreSQL store reuses it as is.
 */
import { readdir, readFile } from "node:fs/promises";
import { StoreMigrationError } from "./errors.js";

/** One `.sql` file of a migrations folder, e.g. `0001_init.sql`. */
export interface MigrationFile {
  /** The leading number: `1` for `0001_init.sql`. */
  version: number;
  /** The rest of the file name without `.sql`: `init`. */
  name: string;
  /** The file name itself. */
  fileName: string;
  /** Where to read the SQL from. */
  url: URL;
}

const FILE_NAME = /^(\d+)_([A-Za-z0-9_-]+)\.sql$/;

/**
 * Lists the migrations of a folder, by version. Other files are ignored.
 *
 * @param folder - A folder URL ending in `/`, e.g. `new URL("../migrations/sqlite/", import.meta.url)`.
 * @throws StoreMigrationError when the folder cannot be read or two files share a number.
 *
 * @example
 * const files = await listMigrations(new URL("./migrations/sqlite/", import.meta.url));
 * const pending = pendingMigrations(files, appliedVersions);
 */
export async function listMigrations(folder: URL): Promise<MigrationFile[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (cause) {
    throw new StoreMigrationError(`Cannot read the migrations folder ${folder.pathname}`, { cause });
  }
  const files: MigrationFile[] = [];
  for (const fileName of names) {
    const match = FILE_NAME.exec(fileName);
    if (match === null) continue;
    const [, digits = "", name = ""] = match;
    files.push({ version: Number(digits), name, fileName, url: new URL(fileName, folder) });
  }
  files.sort((a, b) => a.version - b.version);
  for (let i = 1; i < files.length; i++) {
    const prev = files[i - 1];
    const file = files[i];
    if (prev !== undefined && file !== undefined && prev.version === file.version) {
      throw new StoreMigrationError(
        `Migrations ${prev.fileName} and ${file.fileName} in ${folder.pathname} share version ${file.version}; renumber one of them.`,
      );
    }
  }
  return files;
}

/**
 * The migrations still to apply, in order.
 *
 * @param files - As returned by {@link listMigrations}.
 * @param applied - Versions recorded in `sluice_migrations`.
 * @throws StoreMigrationError when the database has a version this code does not know: it was
 *   migrated by a newer Sluice, and running older code against it could corrupt it.
 */
export function pendingMigrations(files: readonly MigrationFile[], applied: Iterable<number>): MigrationFile[] {
  const known = new Set(files.map((f) => f.version));
  const done = new Set(applied);
  const unknown = [...done].filter((v) => !known.has(v)).sort((a, b) => a - b);
  if (unknown.length > 0) {
    throw new StoreMigrationError(
      `The database has migration ${unknown.join(", ")} which this version of Sluice does not know; ` +
        `it was migrated by a newer Sluice. Upgrade Sluice, or point it at another database.`,
    );
  }
  return files.filter((f) => !done.has(f.version));
}

/** Reads a migration's SQL text. */
export async function readMigration(file: MigrationFile): Promise<string> {
  try {
    return await readFile(file.url, "utf8");
  } catch (cause) {
    throw new StoreMigrationError(`Cannot read migration ${file.fileName}`, { cause });
  }
}
