/**
 * A minimal EventSource for Node tests (Node 20 has none): GET with `Accept: text/event-stream` through fetch,
 * `data:` lines joined per event, `event:` names dispatched to listeners, `onerror` when the stream ends. No
 * automatic reconnect: the msghub client reconnects itself.
 */
type Listener = (ev: { data: string }) => void;

export class NodeEventSource {
  onmessage: Listener | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly abort = new AbortController();
  static opened = 0;

  constructor(url: string) {
    NodeEventSource.opened++;
    void this.run(url);
  }

  addEventListener(type: string, fn: Listener): void {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(fn);
  }

  close(): void {
    this.abort.abort();
  }

  private dispatch(type: string, data: string): void {
    if (type === 'message') this.onmessage?.({ data });
    for (const fn of this.listeners.get(type) ?? []) fn({ data });
  }

  private async run(url: string): Promise<void> {
    try {
      const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: this.abort.signal });
      if (res.status !== 200 || !res.body) throw new Error(`HTTP ${res.status}`);
      this.dispatch('open', '');
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let type = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) type = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length) this.dispatch(type, data.join('\n'));
        }
      }
      throw new Error('stream ended');
    } catch (err) {
      if (!this.abort.signal.aborted) this.onerror?.(err);
    }
  }
}
