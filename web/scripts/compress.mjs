// Precompresses the build (gzip and brotli, best levels) so the engine serves the variant
// the browser accepts without compressing on each request.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

const root = process.env.ATENDE_WEB_OUT || resolve(import.meta.dirname, "..", "dist");
const compressible = /\.(js|css|html|svg|json|txt|map)$/;
const minBytes = 512;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (compressible.test(name)) compress(path);
  }
}

function compress(path) {
  const data = readFileSync(path);
  if (data.length < minBytes) return;
  const gz = gzipSync(data, { level: 9 });
  const br = brotliCompressSync(data, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
  });
  if (gz.length < data.length) writeFileSync(path + ".gz", gz);
  if (br.length < data.length) writeFileSync(path + ".br", br);
}

walk(root);
