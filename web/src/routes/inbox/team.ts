// Who works in the tenant and who is online (`GET /presence`), kept current by the socket's
// `presence` frames. Shared by the presence bar and the transfer control.
import { useEffect, useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { useConsole } from "../../console/session";

export type Colleague = Schemas["Colleague"];

export function useTeam(): Colleague[] {
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
