// A bundle folder's files as `{ path: text }` (paths relative to the folder, with `/`), what
// `loadSesame({ bundle: { files } })` takes; dot-files are skipped. Used by the benchmarks.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export function bundleFiles(folder) {
  const out = {};
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      if (name.startsWith(".")) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(folder, p).split("\\").join("/")] = readFileSync(p, "utf8");
    }
  };
  walk(folder);
  return out;
}
