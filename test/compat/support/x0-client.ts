/**
 * A harness that sends exactly what x0's browser client sends (WEBcodeX1/x0, www/sysXMLRPCRequest.js and
 * www/sysAsyncNotifyMsgHandler.js), over real HTTP on loopback:
 *
 * - `sysCallXMLRPC.Request()` for POST: the URL plus `?a__=<10 random digits>` (the cache buster), the headers
 *   `Upgrade-Insecure-Requests: 1`, `Cache-Control: max-age=0`, `Content-Type: application/json; charset=UTF-8`,
 *   `Accept: application/json`, and the body `JSON.stringify(PostData)` where PostData got
 *   `SessionData = {ID: sysFactory.SysSessionID, Value: sysFactory.SysSessionValue}` merged in;
 * - `sysAsyncNotifyMsgHandler.getMsg()`: PostData `{"session_src": <session>, "type": "GET"}`; its callback runs
 *   only for an HTTP 200, processes `messages` (when not null) and calls getMsg() again at once; any other status or
 *   a network error ends the loop (x0 never retries);
 * - the example's "Send Data" button (sysObjButton + sysRequestDataHandler): PostData
 *   `{"RequestData": {"FormlistSelectDstUser": {…, "DstUserSession": B}, "FormlistExchangeData": {…}}, "ServiceData": {}}`.
 * A browser on another origin (x0's app on :80, the message server on :8080) adds `Origin` and preflights.
 */
import http from 'node:http';

export interface XhrResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** `JSON.parse(text)` when the text is not empty (as sysCallXMLRPC does), else ''. */
  data: unknown;
}

/** sysRandomNr.generate(10): ten random digits. */
function randomDigits(n = 10): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(Math.random() * 10);
  return s;
}

/** One XMLHttpRequest as sysCallXMLRPC makes it. `origin`: the page's origin, when it is another than the server's. */
export function xhr(url: string, method: 'POST' | 'GET' | 'OPTIONS', body: string | null, extraHeaders: Record<string, string> = {}, signal?: AbortSignal): Promise<XhrResult> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...extraHeaders };
    if (body !== null) headers['Content-Length'] = String(Buffer.byteLength(body));
    const req = http.request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method, headers, signal }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let data: unknown = '';
        if (text.length > 0) data = JSON.parse(text);
        resolve({ status: res.statusCode!, headers: res.headers, text, data });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

export interface X0Message {
  [key: string]: unknown;
  session_src?: unknown;
}

/** One browser tab of an x0 app: its session, its message-server URLs, its poll loop. */
export class X0Browser {
  /** Every message the poll loop's callback processed, in order. */
  readonly received: X0Message[] = [];
  /** Every answer the poll loop got (status and data). */
  readonly answers: XhrResult[] = [];
  /** Why the loop ended (a non-200 status, a network error), once it has. */
  stopped: string | null = null;
  private running = false;
  private abort: AbortController | null = null;
  private waiters: (() => void)[] = [];

  constructor(
    /** sysFactory.MsgServerGetURL (and the button's OnClick URL): e.g. http://host:8080/python/MsgHandler.py */
    readonly url: string,
    /** sysFactory.SysSessionValue */
    readonly session: string,
    readonly options: { origin?: string; sessionId?: string; setUrl?: string; extraHeaders?: Record<string, string> } = {},
  ) {}

  /** sysCallXMLRPC.Request() with RequestType POST, for `postData`, to `url`. */
  request(postData: Record<string, unknown>, url = this.url, signal?: AbortSignal): Promise<XhrResult> {
    const data = { ...postData, SessionData: { ID: this.options.sessionId ?? 'SYS_SESSION', Value: this.session } };
    const headers: Record<string, string> = {
      'Upgrade-Insecure-Requests': '1',
      'Cache-Control': 'max-age=0',
      'Content-Type': 'application/json; charset=UTF-8',
      Accept: 'application/json',
      ...(this.options.origin ? { Origin: this.options.origin } : {}),
      ...(this.options.extraHeaders ?? {}),
    };
    return xhr(`${url}?a__=${randomDigits()}`, 'POST', JSON.stringify(data), headers, signal);
  }

  /** The browser's CORS preflight for that POST (JSON content type and custom headers are not "simple"). */
  preflight(url = this.url): Promise<XhrResult> {
    return xhr(`${url}?a__=${randomDigits()}`, 'OPTIONS', null, {
      Origin: this.options.origin ?? 'http://x0-app.x0.localnet',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'cache-control,content-type,upgrade-insecure-requests',
    });
  }

  /** One getMsg() request (without the loop). */
  getMsg(signal?: AbortSignal): Promise<XhrResult> {
    return this.request({ session_src: this.session, type: 'GET' }, this.url, signal);
  }

  /** The example's "Send Data" button: the form lists as sysRequestDataHandler sends them. */
  sendForm(dst: string, exchange: Record<string, unknown>, userId = 'user1'): Promise<XhrResult> {
    return this.request({ RequestData: { FormlistSelectDstUser: { UserID: userId, DstUserSession: dst }, FormlistExchangeData: exchange }, ServiceData: {} });
  }

  /** A raw SET as x0's server takes it on its single endpoint. */
  sendRaw(dst: string, payload: unknown): Promise<XhrResult> {
    return this.request({ type: 'SET', session_src: this.session, session_dst: dst, payload });
  }

  /** The doc's sendMessage(): `{session_dst, payload}` to MsgServerSetURL (`<pattern>/set`). */
  sendDocumented(dst: string, payload: unknown): Promise<XhrResult> {
    return this.request({ session_dst: dst, payload }, this.options.setUrl ?? `${this.url}/set`);
  }

  /** new sysAsyncNotifyMsgHandler().getMsg(): the loop runs until stop() or a non-200/network error. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopped = null;
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.abort = new AbortController();
      let r: XhrResult;
      try {
        r = await this.getMsg(this.abort.signal);
      } catch (err) {
        this.stopped = `network error: ${(err as Error).message}`;
        break;
      }
      if (r.status !== 200) {
        this.stopped = `HTTP ${r.status}`;
        break;
      }
      this.answers.push(r);
      // callbackXMLRPCAsync: MsgArray = XMLRPCResultData.messages; processed when not undefined/null.
      const data = r.data as { messages?: unknown } | '' | null;
      const list = data !== null && typeof data === 'object' ? data.messages : undefined;
      if (Array.isArray(list)) for (const m of list) this.received.push(m as X0Message);
      for (const w of this.waiters.splice(0)) w();
    }
    this.running = false;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Ends the loop (the page is closed): the poll in flight is aborted, as a closed tab drops its request. */
  stop(): void {
    this.running = false;
    this.abort?.abort();
  }

  /** Resolves once `pred` holds over what the loop received (bounded). */
  async until(pred: (msgs: X0Message[]) => boolean, what: string, ms = 10_000): Promise<X0Message[]> {
    const deadline = Date.now() + ms;
    while (!pred(this.received)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.received).slice(0, 500)} (loop: ${this.stopped ?? 'running'})`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.received;
  }
}
