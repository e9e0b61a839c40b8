// What the text converters (scripts/corpus-to-text.mjs, scripts/heldout-to-text.mjs) share: their
// command line (build | check --out DIR --version STR ...), the sha256 of a document, the final
// check of a document's text against leftover-markup patterns, writing the documents with their
// one-document-per-line manifest, and the up-to-date check of an output folder against that
// manifest. The text rules of each source stay in its converter. Node standard library only.
//
// The fetch scripts hash this file together with each converter into the output's version
// string, so a change here rebuilds both outputs, as a change to a converter does.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');

// Throws at the first of PATTERNS ([regexp, what it is]) found in the document's text, naming the
// document and quoting the text around the match, so a bad input can be found by eye.
export function rejectPatterns(doc, patterns) {
  const t = doc.text;
  for (const [re, what] of patterns) {
    const m = re.exec(t);
    if (m) throw new Error(`document ${doc.id} contains ${what} near "${t.slice(Math.max(0, m.index - 30), m.index + 30)}"`);
  }
}

// Writes every document's text to OUT/<doc.file> (its folder must exist) and OUT/manifest.json:
// the fields of HEAD, then "documents", one per document with FIELDS in that order. Sorts DOCS
// by id in place first, so the output does not depend on the order the sources were read in.
export function writeOutput(out, docs, head, fields) {
  docs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const d of docs) fs.writeFileSync(path.join(out, d.file), d.text);
  // One document per line keeps the manifest greppable and its diffs readable.
  const lines = docs.map((d) => '    ' + JSON.stringify(Object.fromEntries(fields.map((f) => [f, d[f]]))));
  const json = JSON.stringify(head, null, 2).replace(/\n}$/, `,\n  "documents": [\n${lines.join(',\n')}\n  ]\n}\n`);
  JSON.parse(json); // sanity: what we write must parse
  fs.writeFileSync(path.join(out, 'manifest.json'), json);
}

// Returns true if OPTS.out holds a complete output of OPTS.version: the manifest carries that
// version and every file it lists is present with the recorded size and sha256 (all re-hashed,
// so an edited file is noticed). Then prints SUMMARIZE(documents); otherwise names the first
// missing or changed file (if any) on stderr after "[TAG]". With requireDocuments, a manifest
// listing no documents is not complete either.
export function checkOutput(opts, tag, summarize, { requireDocuments = false } = {}) {
  const file = path.join(opts.out, 'manifest.json');
  let m;
  try { m = JSON.parse(fs.readFileSync(file, 'utf8')); } catch { return false; }
  if (m.version !== opts.version || !Array.isArray(m.documents)) return false;
  if (requireDocuments && m.documents.length === 0) return false;
  for (const d of m.documents) {
    let data;
    try { data = fs.readFileSync(path.join(opts.out, d.file)); } catch { console.error(`[${tag}] missing ${d.file}`); return false; }
    if (data.length !== d.bytes || sha256(data) !== d.sha256) { console.error(`[${tag}] ${d.file} changed`); return false; }
  }
  console.log(summarize(m.documents));
  return true;
}

// Parses "CMD --key value ..." into {cmd, key: value, ...}. Keys listed in REPEATED may be given
// several times and collect into an array. --out and --version are always required, and the keys
// in BUILD_NEEDS too when CMD is build.
export function parseArgs(argv, { buildNeeds = [], repeated = [] } = {}) {
  const opts = { cmd: argv[0] };
  for (let i = 1; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    const k = argv[i].slice(2);
    opts[k] = repeated.includes(k) ? [...(opts[k] ?? []), argv[i + 1]] : argv[i + 1];
  }
  for (const k of opts.cmd === 'build' ? ['out', 'version', ...buildNeeds] : ['out', 'version']) {
    if (!opts[k]) throw new Error(`missing --${k}`);
  }
  return opts;
}

// The command line of a converter, run only when MODULE_URL (its import.meta.url) is the script
// node was started with, so that tests can import its functions. check exits 0 when the output is
// up to date and 3 when it must be rebuilt (the fetch scripts tell the two apart); any error is
// one line "[TAG] error: ..." on stderr and exit 1.
export function runMain(moduleUrl, { tag, usage, args, build, check }) {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(path.resolve(process.argv[1])).href) return;
  try {
    const opts = parseArgs(process.argv.slice(2), args);
    if (opts.cmd === 'build') build(opts);
    else if (opts.cmd === 'check') process.exit(check(opts) ? 0 : 3);
    else throw new Error(usage);
  } catch (e) {
    console.error(`[${tag}] error: ${e.message}`);
    process.exit(1);
  }
}
