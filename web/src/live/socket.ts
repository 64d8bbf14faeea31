// One WebSocket to /ws with reconnection. Frames sent while disconnected wait and go out on
// reconnect; listeners learn of a reconnect so they can `sync` what they missed.
import type { ClientFrame, ServerFrame } from "./frames";

export type Listener = (frame: ServerFrame) => void;
export type State = "connecting" | "open" | "closed";

const MAX_BACKOFF_MS = 10_000;
const PING_EVERY_MS = 20_000;

export class LiveSocket {
  private ws: WebSocket | null = null;
  private listeners = new Set<Listener>();
  private stateListeners = new Set<(state: State, reconnected: boolean) => void>();
  private pending: ClientFrame[] = [];
  private attempts = 0;
  private everOpened = false;
  private stopped = false;
  private pinger: number | undefined;
  state: State = "connecting";

  /** `token()` is read on every (re)connect, so a refreshed token is used. `onRefused` runs
   * when the server closes for an expired token. */
  constructor(
    private token: () => string | null,
    private onRefused: () => void = () => {},
  ) {
    this.connect();
  }

  private url(): string {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws?token=${encodeURIComponent(this.token() ?? "")}`;
  }

  private connect() {
    if (this.stopped) return;
    this.setState("connecting", false);
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempts = 0;
      this.setState("open", reconnected);
      const queued = this.pending;
      this.pending = [];
      for (const frame of queued) this.send(frame);
      window.clearInterval(this.pinger);
      this.pinger = window.setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
    };
    ws.onmessage = (event) => {
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(event.data)) as ServerFrame;
      } catch {
        return;
      }
      for (const listener of this.listeners) listener(frame);
    };
    ws.onclose = (event) => {
      window.clearInterval(this.pinger);
      this.ws = null;
      this.setState("closed", false);
      if (this.stopped) return;
      // 1008: the token expired or was refused; a new one is needed, not a retry.
      if (event.code === 1008 && /token/i.test(event.reason)) {
        this.onRefused();
        return;
      }
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
      this.attempts += 1;
      window.setTimeout(() => this.connect(), delay);
    };
  }

  private setState(state: State, reconnected: boolean) {
    this.state = state;
    for (const listener of this.stateListeners) listener(state, reconnected);
  }

  send(frame: ClientFrame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
    else if (frame.type !== "typing" && frame.type !== "ping") this.pending.push(frame);
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onState(listener: (state: State, reconnected: boolean) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  close() {
    this.stopped = true;
    window.clearInterval(this.pinger);
    this.ws?.close();
  }
}

/** A client-side id for a message, echoed back in `message_sent`. */
export function clientMessageId(): string {
  return crypto.randomUUID();
}
