/**
 * @module http/hidden-files
 * Files a FileHandler never serves, whatever their name: the SQLite databases the config names (with every side
 * file SQLite creates next to them) and the config's own files.
 *
 * `ignore:` patterns hide the usual names, but a database can be called anything and an author may set
 * `ignore: []`; this list is the guarantee. It is checked by real path, so a symlink, a `..` or another spelling
 * of the folder does not get around it, and case-insensitively, so `CHAT.SQLITE-WAL` on a case-insensitive disk
 * is the same file as `chat.sqlite-wal`.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { AppConfig, UrlEntry } from '../config/load.js';
import { parseDbUrl } from '../store/db-url.js';

/**
 * SQLite's side files are its database's path plus a suffix that starts with `-`: `-wal`, `-shm`, `-journal`,
 * and the super-journal `-mjXXXXXXXX`. Hiding the whole `<db>-` prefix covers them and any future one.
 */
const SIDE_FILE = '-';

/** The absolute paths to hide: config files (exact) and SQLite databases (exact, and as a `<db>-…` prefix). */
export interface HiddenPaths {
  files: string[];
  databases: string[];
}

/**
 * What `app` says must never be served: the root config, every YAML file that defined a url entry or a section
 * (imported files included), every module file, and the file of every `sqlite:///…` url in any url entry's
 * kwargs (not only MessageHandler's). Without `app`, only `entry`'s own file and kwargs are known.
 */
export function hiddenPaths(entry: UrlEntry, app?: AppConfig): HiddenPaths {
  const files = new Set<string>([entry.file]);
  const databases = new Set<string>();
  const entries = app ? app.urls : [entry];
  if (app) {
    files.add(app.file);
    for (const e of app.urls) files.add(e.file);
    for (const s of Object.values(app.sections)) files.add(s.file);
    for (const m of Object.values(app.modules)) files.add(m.file);
  }
  for (const e of entries) {
    for (const value of Object.values(e.kwargs)) {
      if (typeof value !== 'string' || !/^sqlite[+:]/i.test(value)) continue;
      try {
        const target = parseDbUrl(value, e.yamlPath);
        if (target.filename && target.filename !== ':memory:') databases.add(target.filename);
      } catch {
        // Not a usable URL: the handler that owns it reports it; there is no file to hide.
      }
    }
  }
  return { files: [...files], databases: [...databases] };
}

/** Lower-cased real spellings of one hidden path; resolved lazily because a database may not exist yet. */
interface Spellings {
  given: string;
  /** As given, with its folder's real path, and its own real path once it exists. */
  known: Set<string>;
  /** True once the file itself resolved: its spellings cannot change but by a rename on disk. */
  settled: boolean;
}

/**
 * Decides whether a file is hidden. `hides()` takes the path about to be served (any spelling) and resolves it.
 * Never rejects: a path it cannot resolve does not exist, and locate() has already refused it.
 */
export class HiddenFiles {
  readonly #files: Spellings[];
  readonly #databases: Spellings[];

  constructor(paths: HiddenPaths) {
    const make = (p: string): Spellings => ({ given: p, known: new Set([lower(path.resolve(p))]), settled: false });
    this.#files = paths.files.filter((f) => path.isAbsolute(f)).map(make);
    this.#databases = paths.databases.map(make);
  }

  /** True if `file` (after resolving symlinks) is a hidden file or a database's side file. */
  async hides(file: string): Promise<boolean> {
    if (this.#files.length === 0 && this.#databases.length === 0) return false;
    const real = lower(await realpath(file).catch(() => path.resolve(file)));
    await Promise.all([...this.#files, ...this.#databases].map(resolve));
    for (const f of this.#files) if (f.known.has(real)) return true;
    for (const db of this.#databases) {
      for (const p of db.known) if (real === p || real.startsWith(p + SIDE_FILE)) return true;
    }
    return false;
  }
}

/** Adds the real spellings of `s` that exist now: its folder's (side files live there) and its own. */
async function resolve(s: Spellings): Promise<void> {
  if (s.settled) return;
  const [dir, own] = await Promise.all([
    realpath(path.dirname(s.given)).catch(() => null),
    realpath(s.given).catch(() => null),
  ]);
  if (dir !== null) s.known.add(lower(path.join(dir, path.basename(s.given))));
  if (own !== null) {
    // Differs from the folder's spelling when the file is a symlink: SQLite keeps the side files of a
    // symlinked database next to its target (older versions: next to the link), so both are hidden.
    s.known.add(lower(own));
    s.settled = dir !== null;
  }
}

/**
 * Case-folded: on the case-insensitive disks of macOS and Windows every spelling names the same file; on a
 * case-sensitive disk this hides a few more names than needed, which is the safe side.
 */
function lower(p: string): string {
  return p.toLowerCase();
}
