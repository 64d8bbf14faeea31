import { defineConfig } from "vite";
import { resolve } from "node:path";

// build.rs passes ATENDE_WEB_OUT (inside cargo's OUT_DIR); a hand-run build goes to dist/.
const outDir = process.env.ATENDE_WEB_OUT || resolve(__dirname, "dist");
const engine = process.env.ATENDE_DEV_ENGINE || "http://127.0.0.1:8080";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    // The polyfill is an inline script, which the Content-Security-Policy forbids.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    rollupOptions: {
      input: {
        console: resolve(__dirname, "index.html"),
        chat: resolve(__dirname, "chat.html"),
        widget: resolve(__dirname, "src/widget.ts"),
      },
      output: {
        // widget.js keeps a stable name: customers' sites point at it.
        entryFileNames: (chunk) => (chunk.name === "widget" ? "widget.js" : "assets/[name]-[hash].js"),
      },
    },
  },
  server: {
    proxy: {
      "/api": engine,
      "/docs": engine,
      "/ws": { target: engine, ws: true },
    },
  },
});
