// widget.js: a launcher bubble for any site. It opens the customer's chat page in an iframe.
// A site embeds it with a script tag whose src is this engine's own /widget.js (the engine
// serves it; nothing comes from a CDN) and data-agent="{slug}" or data-integration="{id}".
// No imports: this file is served as a classic script under a stable name.
(() => {
  const script = document.currentScript as HTMLScriptElement | null;
  if (!script) return;
  const origin = new URL(script.src).origin;
  const agent = script.dataset.agent;
  const integration = script.dataset.integration;
  const path = agent ? `/a/${encodeURIComponent(agent)}` : integration ? `/chat/${encodeURIComponent(integration)}` : null;
  if (!path) return;
  const portuguese = (navigator.language || "pt").toLowerCase().startsWith("pt");
  const labels = portuguese ? { open: "Abrir o chat", close: "Fechar o chat" } : { open: "Open the chat", close: "Close the chat" };

  const button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", labels.open);
  button.setAttribute("aria-expanded", "false");
  button.textContent = "💬";
  Object.assign(button.style, {
    position: "fixed", right: "20px", bottom: "20px", width: "56px", height: "56px", borderRadius: "50%",
    border: "none", background: script.dataset.color || "#1d5fd0", color: "#fff", fontSize: "26px",
    cursor: "pointer", boxShadow: "0 4px 14px rgba(0,0,0,.25)", zIndex: "2147483000",
  });

  let frame: HTMLIFrameElement | null = null;
  button.addEventListener("click", () => {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = origin + path;
      frame.title = labels.open;
      Object.assign(frame.style, {
        position: "fixed", right: "20px", bottom: "88px", width: "min(380px, calc(100vw - 40px))",
        height: "min(600px, calc(100vh - 120px))", border: "1px solid #d9dee6", borderRadius: "12px",
        boxShadow: "0 8px 30px rgba(0,0,0,.2)", background: "#fff", zIndex: "2147483000",
      });
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    const open = !frame.hidden;
    button.setAttribute("aria-expanded", String(open));
    button.setAttribute("aria-label", open ? labels.close : labels.open);
    button.textContent = open ? "×" : "💬";
  });
  document.body.appendChild(button);
})();
