#!/usr/bin/env node
// Syntax check for Move sources, using the tree-sitter Move grammar that Mysten ships in
// the npm package @mysten/prettier-plugin-move (tree-sitter-move.wasm), loaded with the
// web-tree-sitter version that package expects.
//
// Usage:
//   node check-move-syntax.mjs [FILE_OR_DIR ...]
//
// With no FILE_OR_DIR, every .move file under the contracts/ directory (the parent of this
// script's directory) is checked, skipping node_modules/ and build/. Directories given as
// arguments are searched recursively the same way.
//
// Output: one line `path:line:col: syntax error ...` per ERROR or MISSING node (1-based line
// and column), then a one-line summary `N files parsed, E errors`. Exit status: 0 when there
// is no error, 1 when a file has a syntax error, 2 on a usage or setup problem.

import { createRequire } from "node:module";
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const defaultRoot = path.resolve(here, "..");
const SKIP_DIRS = new Set(["node_modules", "build", ".git"]);

function usage(message) {
  if (message) console.error(`check-move-syntax: ${message}`);
  console.error("usage: check-move-syntax [FILE_OR_DIR ...]");
  process.exit(2);
}

function collect(target, out) {
  let st;
  try {
    st = statSync(target);
  } catch {
    usage(`no such file or directory: ${target}`);
  }
  if (st.isDirectory()) {
    for (const entry of readdirSync(target, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name)) collect(path.join(target, entry.name), out);
      } else if (entry.isFile() && entry.name.endsWith(".move")) {
        out.push(path.join(target, entry.name));
      }
    }
  } else {
    out.push(target);
  }
}

function display(file) {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

function snippet(text) {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > 40 ? `${oneLine.slice(0, 37)}...` : oneLine;
}

function findErrors(root) {
  // ERROR nodes (input the parser could not fit) and MISSING nodes (a token the parser had to
  // invent). An ERROR node that contains a nested ERROR or MISSING node is reported through
  // those, which point closer to the mistake than the outer node's start.
  const problems = [];
  const visit = (node) => {
    if (node.isMissing()) {
      problems.push({ pos: node.startPosition, message: `missing ${JSON.stringify(node.type)}` });
      return 1;
    }
    if (!node.hasError()) return 0;
    let found = 0;
    for (let i = 0; i < node.childCount; i++) found += visit(node.child(i));
    if (node.type === "ERROR" && found === 0) {
      const text = snippet(node.text);
      problems.push({ pos: node.startPosition, message: text ? `unexpected ${JSON.stringify(text)}` : "unexpected input" });
      return 1;
    }
    return found;
  };
  visit(root);
  problems.sort((a, b) => a.pos.row - b.pos.row || a.pos.column - b.pos.column);
  return problems;
}

async function main() {
  const args = process.argv.slice(2);
  const targets = [];
  for (const arg of args) {
    if (arg === "-h" || arg === "--help") usage();
    if (arg.startsWith("-")) usage(`unknown option ${arg}`);
    targets.push(path.resolve(arg));
  }
  if (targets.length === 0) targets.push(defaultRoot);

  const files = [];
  for (const t of targets) collect(t, files);

  const Parser = require("web-tree-sitter");
  const pluginDir = path.dirname(require.resolve("@mysten/prettier-plugin-move/package.json"));
  const wasm = path.join(pluginDir, "tree-sitter-move.wasm");
  await Parser.init();
  const Move = await Parser.Language.load(wasm);
  const parser = new Parser();
  parser.setLanguage(Move);

  let errors = 0;
  for (const file of files) {
    const source = readFileSync(file, "utf8");
    const tree = parser.parse(source);
    const problems = findErrors(tree.rootNode);
    for (const p of problems) {
      console.log(`${display(file)}:${p.pos.row + 1}:${p.pos.column + 1}: syntax error: ${p.message}`);
    }
    errors += problems.length;
    tree.delete();
  }
  if (files.length === 0) {
    console.error("check-move-syntax: no .move files found");
    process.exit(2);
  }
  console.log(`${files.length} files parsed, ${errors} errors`);
  process.exit(errors === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(`check-move-syntax: ${err?.stack ?? err}`);
  process.exit(2);
});
