/**
 * Test clients for the HTTP transports: a Server-Sent Events reader (fetch + a small event-stream parser) and
 * a long-poll helper.
 */
export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  private readonly abort = new AbortController();
  private waiters: (() => void)[] = [];
  done: Promise<void>;
  status = 0;

  private constructor(url: string, headers: Record<string, string>) {
    this.done = (async () => {
      const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: this.abort.signal });
      this.status = res.status;
      await readSseBlocks(res, (block) => this.parse(block), () => this.wake());
    })().catch((err: Error) => {
      if (err.name !== 'AbortError') throw err;
    }).finally(() => this.wake());
  }

  static open(url: string, headers: Record<string, string> = {}): SseClient {
    return new SseClient(url, headers);
  }

  /** Data frames parsed as JSON (comments, retry lines and `close` events excluded). */
  get frames(): Record<string, unknown>[] {
    return this.events.filter((e) => !e.event).map((e) => JSON.parse(e.data) as Record<string, unknown>);
  }

  until(pred: (c: SseClient) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (pred(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events).slice(0, 1500)}`)), timeoutMs);
      const check = (): void => {
        if (pred(this)) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  close(): Promise<void> {
    this.abort.abort();
    return this.done;
  }

  private parse(block: string): void {
    const ev: SseEvent = { data: '' };
    const data: string[] = [];
    let any = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('id: ')) ev.id = line.slice(4);
      else if (line.startsWith('event: ')) ev.event = line.slice(7);
      else if (line.startsWith('data: ')) {
        data.push(line.slice(6));
        any = true;
      }
    }
    if (any) {
      ev.data = data.join('\n');
      this.events.push(ev);
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/**
 * Reads an event stream, calling `onBlock` with each complete event block (the text between blank lines) and
 * `onChunk` after each network read. A block cut off by an abort is never seen.
 */
export async function readSseBlocks(res: Response, onBlock: (block: string) => void, onChunk?: () => void): Promise<void> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      onBlock(buf.slice(0, i));
      buf = buf.slice(i + 2);
    }
    onChunk?.();
  }
}

/** One long-poll request: resolves with the status and parsed body. */
export async function poll(url: string): Promise<{ status: number; body: unknown; ms: number }> {
  const t0 = Date.now();
  const res = await fetch(url);
  return { status: res.status, body: await res.json(), ms: Date.now() - t0 };
}
