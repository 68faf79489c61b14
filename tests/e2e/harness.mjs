// What every Chromium scenario shares: the server under test (SESAME_URL, SESAME_TOKEN), where
// screenshots go (SHOTS, default target/screenshots, under $CARGO_TARGET_DIR when set), checks that print `ok - ...`, and
// Debian's Chromium launched headless through playwright-core.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const url = process.env.SESAME_URL;
export const token = process.env.SESAME_TOKEN;
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const shots =
  process.env.SHOTS ?? join(resolve(root, process.env.CARGO_TARGET_DIR || "target"), "screenshots");
mkdirSync(shots, { recursive: true });

export function check(ok, what) {
  if (!ok) throw new Error(`expected: ${what}`);
  console.log(`ok - ${what}`);
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}
