// Parse every Mermaid diagram given as a file argument with the real mermaid parser (jsdom stands in for
// the browser it expects); print "ok <file>" or "error <file>: <why>" per diagram, exit 1 if any fails.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    const result = await mermaid.parse(readFileSync(file, "utf8"));
    console.log(`ok ${file} ${result.diagramType}`);
  } catch (error) {
    failed += 1;
    console.log(`error ${file}: ${String(error.message).split("\n").join(" ")}`);
  }
}
process.exit(failed ? 1 : 0);
