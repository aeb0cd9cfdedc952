/** Live updates over the WebSocket API: join channels with the session token, one handler per
 * channel, re-joined after a reconnect. Events are `{event, channel, data, ts}`. */
export interface LiveEvent {
  event: string;
  channel: string | null;
  data: Record<string, unknown>;
  snapshot?: Record<string, unknown>;
}
type Handler = (event: LiveEvent) => void;

export class Live {
  private socket: WebSocket | null = null;
  private readonly handlers = new Map<string, Set<Handler>>();
  private opened: Promise<WebSocket> | null = null;
  private closedByUs = false;

  constructor(private readonly url: string, private readonly token: () => string | null) {}

  /** Subscribe; the returned function leaves the channel (when no other handler wants it). */
  join(channel: string, handler: Handler): () => void {
    const handlers = this.handlers.get(channel) ?? new Set<Handler>();
    const first = handlers.size === 0;
    handlers.add(handler);
    this.handlers.set(channel, handlers);
    if (first) void this.sendJoin(channel);
    return () => {
      handlers.delete(handler);
      if (handlers.size === 0) {
        this.handlers.delete(channel);
        if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ action: "leave", channel }));
      }
    };
  }

  close(): void {
    this.closedByUs = true;
    this.handlers.clear();
    this.socket?.close();
    this.socket = null;
    this.opened = null;
  }

  private async sendJoin(channel: string): Promise<void> {
    const socket = await this.connect();
    socket.send(JSON.stringify({ action: "join", channel, token: this.token() }));
  }

  private connect(): Promise<WebSocket> {
    if (this.opened) return this.opened;
    this.closedByUs = false;
    this.opened = new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      socket.onopen = () => resolve(socket);
      socket.onerror = () => reject(new Error("WebSocket error"));
      socket.onmessage = (message) => this.dispatch(JSON.parse(String(message.data)) as LiveEvent);
      socket.onclose = () => {
        this.socket = null;
        this.opened = null;
        if (!this.closedByUs && this.handlers.size) window.setTimeout(() => this.rejoinAll(), 1000);
      };
      this.socket = socket;
    });
    return this.opened;
  }

  private rejoinAll(): void {
    for (const channel of this.handlers.keys()) void this.sendJoin(channel).catch(() => undefined);
  }

  private dispatch(event: LiveEvent): void {
    if (!event.channel) return;
    this.handlers.get(event.channel)?.forEach((handler) => handler(event));
  }
}
