/**
 * @module store/checkpointer
 * WAL checkpoints off the event loop.
 *
 * SQLite's automatic checkpoint runs inside whichever commit pushes the WAL past 1000 pages: on the writer's
 * connection, on the event loop, copying ~4 MB into the database file and fsyncing. Measured on the reference
 * machine, that is a 5–20 ms stall every second or so at a few hundred messages a second: every subscriber of
 * every handler waits for it. Instead, one worker thread per database file runs PASSIVE checkpoints shortly
 * after commits; a PASSIVE checkpoint never blocks the writer or readers. The writer keeps a high automatic
 * threshold as a safety net (it only fires if the worker falls far behind), and goes back to SQLite's default
 * if the worker cannot run.
 */
import { Worker } from 'node:worker_threads';

/** How long after a commit the worker checkpoints: commits of the next few turns share one checkpoint. */
const DELAY_MS = 50;

/** WAL pages at which the writer checkpoints by itself anyway (SQLite's default is 1000). */
export const SAFETY_NET_PAGES = 10_000;

/** What a store hears from its checkpointer: an error, and whether the thread is gone (`fatal`). */
export type CheckpointReport = (error: string, fatal: boolean) => void;

type Result = { ok: true } | { ok: false; error: string };

export class Checkpointer {
  private static readonly byFile = new Map<string, Checkpointer>();

  /** The checkpointer of a database file, shared by every store on it. */
  static acquire(filename: string, report: CheckpointReport): Checkpointer {
    let c = Checkpointer.byFile.get(filename);
    if (!c || c.failed) {
      c = new Checkpointer(filename);
      Checkpointer.byFile.set(filename, c);
    }
    c.refs++;
    c.reports.add(report);
    return c;
  }

  private readonly worker: Worker;
  private refs = 0;
  private readonly reports = new Set<CheckpointReport>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private dirty = false;
  private failed = false;
  private closing: Promise<void> | null = null;
  private waiters: (() => void)[] = [];

  private constructor(private readonly filename: string) {
    this.worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { filename } });
    // The worker never keeps a process alive by itself; stores close it when they close.
    this.worker.unref();
    this.worker.on('message', (r: Result) => this.finished(r));
    this.worker.on('error', (err) => this.fail(String(err.message)));
    this.worker.on('exit', () => {
      if (!this.closing) this.fail('the checkpoint thread exited');
    });
  }

  /** Called after each commit: a checkpoint follows within DELAY_MS (or right after the one running). */
  nudge(): void {
    if (this.failed || this.closing) return;
    if (this.running || this.timer) {
      this.dirty = true;
      return;
    }
    this.timer = setTimeout(() => this.run(), DELAY_MS);
    this.timer.unref();
  }

  /** Resolves once no checkpoint is scheduled or running. */
  settled(): Promise<void> {
    if (!this.running && !this.timer && !this.dirty) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** One store is done with this file; the last one stops the thread. */
  async release(report: CheckpointReport): Promise<void> {
    this.reports.delete(report);
    if (--this.refs > 0) return;
    if (Checkpointer.byFile.get(this.filename) === this) Checkpointer.byFile.delete(this.filename);
    this.closing ??= this.stop();
    await this.closing;
  }

  private async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.dirty = false;
    if (this.failed) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    // Held while we wait for it: an unref'd worker would let the process end with this close unfinished.
    this.worker.ref();
    // A running checkpoint finishes first: the worker handles messages in order.
    this.worker.postMessage('close');
    await exited;
    this.wake();
  }

  private run(): void {
    this.timer = null;
    this.dirty = false;
    this.running = true;
    this.worker.postMessage('checkpoint');
  }

  private finished(r: Result): void {
    this.running = false;
    if (!r.ok) for (const report of this.reports) report(r.error, false);
    if (this.dirty && !this.closing) {
      this.dirty = false;
      this.timer = setTimeout(() => this.run(), DELAY_MS);
      this.timer.unref();
      return;
    }
    this.wake();
  }

  private fail(error: string): void {
    if (this.failed) return;
    this.failed = true;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.dirty = false;
    for (const report of this.reports) report(error, true);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
