// The agent's inbox: conversation list · the conversation · the contact. One column under
// 900 px (the list, or the open conversation).
import { useEffect, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { t } from "../../i18n";
import { ConversationList, type Tab } from "./ConversationList";
import { ConversationPane } from "./ConversationPane";
import { PresenceBar } from "./PresenceBar";
import { TeamProvider } from "./team";
import "../../styles/inbox-extras.css";
import { storage } from "../../storage";

const TAB_KEY = "atende.inbox.tab";

export default function InboxPage() {
  const { params } = useRoute();
  const conversationId = params.id;
  const [tab, setTab] = useState<Tab>(() => (storage.getItem(TAB_KEY) as Tab) || "mine");
  useEffect(() => {
    const fromUrl = params.tab as Tab | undefined;
    if (fromUrl && ["mine", "queue", "all"].includes(fromUrl)) {
      setTab(fromUrl);
      storage.setItem(TAB_KEY, fromUrl);
    }
  }, [params.tab]);

  return (
    <TeamProvider>
      <div class={`inbox ${conversationId ? "has-conversation" : ""}`}>
        <div class="list-column">
          <PresenceBar />
          <ConversationList tab={tab} selected={conversationId} />
        </div>
        {conversationId ? (
          <ConversationPane key={conversationId} id={conversationId} />
        ) : (
          <main class="pane empty-pane">
            <p class="muted">{t("inbox.pick")}</p>
          </main>
        )}
      </div>
    </TeamProvider>
  );
}
