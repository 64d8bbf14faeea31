// The tenant's event stream (`GET /api/v1/events`, SSE) for the supervisor board. The
// browser's EventSource cannot send headers, so the token goes in `?token=` as the contract
// allows; EventSource resumes with `Last-Event-ID` by itself after a dropped connection.
// When the server refuses (an expired token) EventSource gives up, so we reopen it with
// `?last_event_id=` and the current token: nothing is missed either way.

export interface TenantEvent {
  id: string;
  type: string;
  conversation_id: string | null;
  data: Record<string, unknown>;
  at: string;
}

/** The kinds the engine sends (engine/events.rs); EventSource needs one listener per name. */
export const EVENT_KINDS = [
  "conversation_started",
  "message_received",
  "message_sent",
  "conversation_assigned",
  "conversation_escalated",
  "conversation_closed",
  "limit_reached",
  "delivery_failed",
  "sla_breached",
  "feedback_detected",
  "conversation_classified",
] as const;

const REOPEN_AFTER_MS = 3000;

export interface EventStreamHandlers {
  onEvent: (event: TenantEvent) => void;
  /** Events were lost (buffer overrun, restart): reload state over REST. */
  onResync: () => void;
  onState: (live: boolean) => void;
}

export function openEventStream(token: () => string | null, handlers: EventStreamHandlers): () => void {
  let source: EventSource | null = null;
  let lastId: string | null = null;
  let stopped = false;
  let timer: number | undefined;

  const open = () => {
    if (stopped) return;
    const params = new URLSearchParams({ token: token() ?? "" });
    if (lastId) params.set("last_event_id", lastId);
    const es = new EventSource(`/api/v1/events?${params}`);
    source = es;
    es.onopen = () => handlers.onState(true);
    es.onerror = () => {
      handlers.onState(false);
      if (es.readyState === EventSource.CLOSED) {
        window.clearTimeout(timer);
        timer = window.setTimeout(open, REOPEN_AFTER_MS);
      }
    };
    const onMessage = (raw: MessageEvent<string>) => {
      if (raw.lastEventId) lastId = raw.lastEventId;
      try {
        const body = JSON.parse(raw.data) as Omit<TenantEvent, "id">;
        handlers.onEvent({ ...body, id: raw.lastEventId, data: body.data ?? {} });
      } catch {
        // A frame we cannot read is skipped; the next snapshot reload corrects the board.
      }
    };
    for (const kind of EVENT_KINDS) es.addEventListener(kind, onMessage as EventListener);
    es.addEventListener("resync", () => handlers.onResync());
  };
  open();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    source?.close();
  };
}
