// Booking a meeting in one conversation (seed 000): the slot picker opens when the engine
// says someone asked for a meeting (the socket's `slot_picker`, or the bot chat's stream
// event) or when a person opens it; confirming sends `schedule_confirm` and waits for
// `schedule_confirmed`, or for the `error` frame that refuses it (a slot just taken, a bad
// e-mail), which the picker shows in place. Shared by the inbox and the customer's page.
import { useEffect, useRef, useState } from "preact/hooks";
import type { LiveSocket } from "./socket";

export interface SlotRequest {
  date?: string;
  time?: string;
  email?: string;
  phone?: string;
}

export interface SlotChoice {
  date: string;
  time: string;
  email: string;
  phone?: string;
}

/** Who asked for the picker: the customer (over the socket) or the person's bot chat. */
export type SlotOrigin = "customer" | "bot";

export interface Booking {
  request: SlotRequest | null;
  origin: SlotOrigin | null;
  /** `starts_at` of the meeting just booked. */
  booked: string | null;
  /** Whose picker booked it (null: someone else in the room). */
  bookedFrom: SlotOrigin | null;
  error: string | null;
  busy: boolean;
  open: (request: SlotRequest, origin: SlotOrigin) => void;
  close: () => void;
  confirm: (choice: SlotChoice) => void;
}

export function useBooking(socket: LiveSocket, conversationId: string): Booking {
  const [request, setRequest] = useState<SlotRequest | null>(null);
  const [origin, setOrigin] = useState<SlotOrigin | null>(null);
  const [booked, setBooked] = useState<string | null>(null);
  const [bookedFrom, setBookedFrom] = useState<SlotOrigin | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  /** The picker whose confirmation is outstanding. */
  const waiting = useRef<SlotOrigin | null>(null);
  const originRef = useRef<SlotOrigin | null>(null);
  originRef.current = origin;

  const open = (next: SlotRequest, from: SlotOrigin) => {
    setRequest(next);
    setOrigin(from);
    setError(null);
    setBooked(null);
  };
  const close = () => {
    setRequest(null);
    setOrigin(null);
    setError(null);
  };

  useEffect(() => {
    close();
    setBooked(null);
    const off = socket.on((frame) => {
      if ("conversation_id" in frame && frame.conversation_id !== conversationId) return;
      if (frame.type === "slot_picker") open({ date: frame.date, time: frame.time, email: frame.email, phone: frame.phone }, "customer");
      if (frame.type === "schedule_confirmed") {
        setBookedFrom(waiting.current);
        waiting.current = null;
        setBusy(false);
        setRequest(null);
        setOrigin(null);
        setError(null);
        setBooked(frame.event.starts_at);
      }
      // Error frames name no conversation: one that arrives while a confirmation is
      // outstanding is that confirmation's answer.
      if (frame.type === "error" && waiting.current) {
        waiting.current = null;
        setBusy(false);
        setError(frame.error);
      }
    });
    return () => {
      off();
      waiting.current = null;
    };
  }, [socket, conversationId]);

  const confirm = (choice: SlotChoice) => {
    waiting.current = originRef.current;
    setBusy(true);
    setError(null);
    socket.send({ type: "schedule_confirm", conversation_id: conversationId, ...choice });
  };

  return { request, origin, booked, bookedFrom, error, busy, open, close, confirm };
}
