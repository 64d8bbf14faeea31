// The public link as a QR code, drawn here (uqr encodes it) as SVG: nothing from outside.
import { encode } from "uqr";
import { t } from "../../../i18n";

export function QrCode({ url, size = 220 }: { url: string; size?: number }) {
  const { data } = encode(url, { ecc: "M", border: 2 });
  const n = data.length;
  let path = "";
  data.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (dark) path += `M${x} ${y}h1v1h-1z`;
    }),
  );
  return (
    <svg class="qr" role="img" aria-label={t("admin.publish.qr", { url })} width={size} height={size} viewBox={`0 0 ${n} ${n}`} shape-rendering="crispEdges">
      <rect width={n} height={n} fill="#fff" />
      <path d={path} fill="#000" />
    </svg>
  );
}
