// Who works in the tenant and who is online (`GET /presence`), kept current by the socket's
// `presence` frames. Read once by the inbox (`TeamProvider`) and shared with the presence
// bar, the transfer control and the owners' names.
import { createContext, h, type ComponentChildren } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { useConsole } from "../../console/session";

export type Colleague = Schemas["Colleague"];

function useTeamSnapshot(): Colleague[] {
  const { socket } = useConsole();
  const [people, setPeople] = useState<Colleague[]>([]);
  useEffect(() => {
    // Frames that come before the snapshot are applied to it once it arrives.
    const early = new Map<string, Colleague["presence"]>();
    let loaded = false;
    const off = socket.on((frame) => {
      if (frame.type !== "presence") return;
      if (!loaded) early.set(frame.user_id, frame.status);
      setPeople((current) => current.map((p) => (p.id === frame.user_id ? { ...p, presence: frame.status } : p)));
    });
    void must(api.GET("/api/v1/presence"))
      .then((team) => {
        loaded = true;
        setPeople(team.people.map((p) => (early.has(p.id) ? { ...p, presence: early.get(p.id) ?? p.presence } : p)));
      })
      .catch(() => setPeople([]));
    return off;
  }, [socket]);
  return people;
}

const TeamContext = createContext<Colleague[]>([]);

export function TeamProvider({ children }: { children: ComponentChildren }) {
  return h(TeamContext.Provider, { value: useTeamSnapshot() }, children);
}

/** The tenant's staff with their presence (inside the inbox's `TeamProvider`). */
export function useTeam(): Colleague[] {
  return useContext(TeamContext);
}

/** user id → name, for owners. */
export function useNames(): Map<string, string> {
  const team = useTeam();
  return new Map(team.map((p) => [p.id, p.name]));
}
