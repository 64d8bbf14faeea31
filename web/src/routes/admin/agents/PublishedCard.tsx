// What publishing hands out: the public link and its QR code, to print or share.
import { useState } from "preact/hooks";
import { t } from "../../../i18n";
import { QrCode } from "./QrCode";

export function PublishedCard({ name, url, agentId }: { name: string; url: string; agentId: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="published" role="status">
      <h2>{t("admin.publish.done", { name })}</h2>
      <QrCode url={url} />
      <p>
        {t("admin.publish.link")}{" "}
        <a href={url} target="_blank" rel="noopener">
          {url}
        </a>
      </p>
      <div class="row">
        <button type="button" class="secondary" onClick={() => navigator.clipboard?.writeText(url).then(() => setCopied(true))}>
          {copied ? t("admin.copied") : t("admin.publish.copy")}
        </button>
        <a class="button secondary" href={`/admin/agents/${agentId}`}>
          {t("admin.publish.settings")}
        </a>
      </div>
    </div>
  );
}
