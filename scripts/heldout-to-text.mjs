// Converts the pinned Debian documentation packages (unpacked by scripts/fetch-heldout-text.sh)
// into plain UTF-8 prose documents for the out-of-template evaluation's haystacks, and writes
// the manifest. This text is held out of every training mix (see fetch-heldout-text.sh).
// Node only (no Python, no npm dependencies).
//
//   node heldout-to-text.mjs build --out DIR --version STR --pkg NAME=VERSION=DIR ...
//       One --pkg per package (DIR: the unpacked .deb). Writes DIR/<package>-<name>.txt and
//       DIR/manifest.json, prints the summary. DIR must not exist yet (the caller builds in a
//       temp dir and renames it into place).
//   node heldout-to-text.mjs check --out DIR --version STR
//       Exit 0 and print the summary if DIR/manifest.json has this version and every file is
//       present with the recorded size and sha256; exit 3 if a rebuild is needed.
//
// All inputs are HTML. One small HTML reader turns a page into a stream of headings and
// paragraphs: code (<pre>, highlighted blocks, examples), tables, tables of contents,
// navigation bars, index terms, footnotes and figures are dropped; every block element (p, div,
// li, dt, dd, ...) ends a paragraph; inline markup is removed and whitespace collapsed, so a
// paragraph is one line; a definition list's term is joined to its definition ("3.8: Essential
// packages ..."). Paragraphs that are mostly non-letters (commands, paths, bare links; see
// keepParagraph) or shorter than 3 words are dropped; headings are kept as their own paragraphs
// (their section numbers are part of the text).
//
// Documents: the headings of a page form a section tree; a section (with its subsections) of at
// most MAX_DOC bytes is one document, a longer one is split into its introduction and its
// subsections (recursively; a section without subsections is split between paragraphs, titled
// "(part n)"), and pieces under MIN_DOC bytes are merged into a neighbour. Pieces that stay under
// MIN_KEEP bytes are dropped. Text conventions as in corpus-to-text.mjs: UTF-8 (NFC), "\n" line
// endings, one paragraph per line, paragraphs separated by one blank line, one final newline.
import fs from 'node:fs';
import path from 'node:path';
import { checkOutput, rejectPatterns, runMain, sha256, writeOutput } from './lib/text-convert.mjs';

const MAX_DOC = 20000;
const MIN_DOC = 1500;
const MIN_KEEP = 600;
const MIN_ALNUM_RATIO = 0.75;
const MIN_LETTER_RATIO = 0.5;
const MAX_TERM = 100;

// What is read from each package: the HTML pages (relative to dir in the unpacked .deb), the
// title of the book a page belongs to (prefix of its documents' titles) with a prefix for their
// ids where a package holds several books, and section titles to leave out (licence texts that
// several packages share, indexes). A page count that no longer matches the package is an
// error, never a silently smaller text.
const PACKAGES = {
  'debian-handbook': {
    book: () => ["The Debian Administrator's Handbook", ''],
    dir: 'usr/share/doc/debian-handbook/html/en-US',
    // Every page but the title page / table of contents (index.html).
    pages: (files) => files.filter((f) => f.endsWith('.html') && f !== 'index.html'),
    expectPages: 126,
    skipTitles: [],
  },
  'debian-policy': {
    book: (page) => ({
      'policy.html/upgrading-checklist.html': ['Debian Policy Manual, Upgrading checklist', 'upgrading-checklist-'],
      'autopkgtest.html': ['autopkgtest specification', 'autopkgtest-'],
      'copyright-format-1.0.html': ['Machine-readable debian/copyright file, version 1.0', 'copyright-format-'],
      'debconf_specification.html': ['Configuration management (debconf) specification', 'debconf-spec-'],
      'menu-policy-1.html': ['Debian Menu sub-policy', 'menu-policy-'],
      'perl-policy-1.html': ['Debian Perl Policy', 'perl-policy-'],
      'fhs/fhs-3.0.html': ['Filesystem Hierarchy Standard 3.0', 'fhs-'],
    })[page] ?? ['Debian Policy Manual', ''],
    dir: 'usr/share/doc/debian-policy',
    // The Policy Manual's chapters and appendices, and the sub-policies and specifications
    // shipped beside it (each once: the single-page menu and perl policies, not their split
    // copies in menu-policy.html/ and perl-policy.html/).
    pages: (files) => [
      ...files.filter((f) => /^policy\.html\/(ch|ap)-[a-z0-9-]+\.html$/.test(f)),
      'policy.html/upgrading-checklist.html',
      'autopkgtest.html', 'copyright-format-1.0.html', 'debconf_specification.html',
      'menu-policy-1.html', 'perl-policy-1.html', 'fhs/fhs-3.0.html',
    ],
    expectPages: 29,
    skipTitles: [],
  },
  'developers-reference': {
    book: () => ["Debian Developer's Reference", ''],
    dir: 'usr/share/developers-reference',
    // The chapter pages (developers-reference.html is the same book on one page).
    pages: (files) => files.filter((f) => /^[a-z0-9-]+\.html$/.test(f)
      && !['index.html', 'search.html', 'genindex.html', 'developers-reference.html'].includes(f)),
    expectPages: 9,
    skipTitles: [],
  },
  'debian-faq': {
    book: () => ['The Debian GNU/Linux FAQ', ''],
    dir: 'usr/share/doc/debian/FAQ',
    pages: (files) => files.filter((f) => f.endsWith('.en.html') && f !== 'index.en.html'),
    expectPages: 16,
    skipTitles: [],
  },
  'gnu-standards': {
    book: (page) => (page === 'standards.html'
      ? ['GNU Coding Standards', 'standards-'] : ['Information for Maintainers of GNU Software', 'maintain-']),
    dir: 'usr/share/doc/gnu-standards',
    pages: () => ['standards.html', 'maintain.html'],
    expectPages: 2,
    // Also two sections that are lists rather than prose.
    skipTitles: [/GNU Free Documentation License/, /^Index$/, /^4\.10 Table of Long Options$/,
      /^4\.11 OID Allocations$/],
  },
};

// ---------------------------------------------------------------------------
// HTML -> headings and paragraphs.
// ---------------------------------------------------------------------------

const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta',
  'param', 'source', 'track', 'wbr']);
// Elements dropped with everything inside them.
const SKIP_TAGS = new Set(['head', 'script', 'style', 'pre', 'table', 'nav', 'form', 'svg', 'math',
  'object', 'button', 'select', 'textarea', 'noscript', 'title']);
// Elements dropped by class (any of these class tokens) or id.
const SKIP_CLASSES = new Set([
  'toc', 'navheader', 'navfooter', 'docnav', 'sphinxsidebar', 'related', 'footer', 'header',
  'contents', 'section-toc', 'shortcontents', 'menu', 'footnotes', 'footnote', 'footnote-reference',
  'fn-backref', 'headerlink', 'indexterm', 'mediaobject', 'figure', 'highlight', 'screen',
  'programlisting', 'example', 'informalexample', 'literal-block-wrapper', 'synopsis',
  'cmdsynopsis', 'calloutlist', 'index', 'index-cp', 'summary-letter', 'table', 'informaltable',
  'legalnotice', 'searchbox', 'toctree-wrapper', 'copyright', 'callout', 'copiable-anchor',
  'Contents_element',
]);
const SKIP_IDS = new Set(['banner', 'title']);
// Elements whose start or end ends a paragraph.
const BLOCK = new Set(['p', 'div', 'li', 'ul', 'ol', 'dl', 'dt', 'dd', 'blockquote', 'section',
  'article', 'aside', 'header', 'footer', 'main', 'body', 'html', 'br', 'hr', 'figure',
  'figcaption', 'caption', 'address', 'center', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);

const ENTITIES = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', shy: '', mdash: '\u2014',
  ndash: '\u2013', hellip: '\u2026', lsquo: '\u2018', rsquo: '\u2019', ldquo: '\u201c',
  rdquo: '\u201d', lsaquo: '\u2039', rsaquo: '\u203a', laquo: '\u00ab', raquo: '\u00bb', copy: '\u00a9', reg: '\u00ae',
  trade: '\u2122', para: '\u00b6', sect: '\u00a7', bull: '\u2022', middot: '\u00b7',
  times: '\u00d7', rarr: '\u2192', larr: '\u2190', eacute: '\u00e9', egrave: '\u00e8',
  aacute: '\u00e1', agrave: '\u00e0', ouml: '\u00f6', uuml: '\u00fc', auml: '\u00e4',
  ccedil: '\u00e7', iacute: '\u00ed', oacute: '\u00f3', uacute: '\u00fa', ntilde: '\u00f1',
  szlig: '\u00df', deg: '\u00b0', zwnj: '', zwj: '', lrm: '', rlm: '',
};

function decodeEntities(s, where) {
  return s.replace(/&(#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);/g, (m, e) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1));
      return cp === 0xa0 ? ' ' : String.fromCodePoint(cp);
    }
    if (!(e in ENTITIES)) throw new Error(`${where}: unknown HTML entity ${m}`);
    return ENTITIES[e];
  });
}

const TOKEN = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<![^>]*>|<\?[\s\S]*?\?>|<(\/?)([A-Za-z][A-Za-z0-9:-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*(\/?)>|[^<]+|</g;

function attr(attrs, name) {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(attrs);
  return m ? (m[1] ?? m[2] ?? m[3]) : null;
}

function skipped(tag, attrs) {
  if (SKIP_TAGS.has(tag)) return true;
  const cls = attr(attrs, 'class');
  if (cls && cls.split(/\s+/).some((c) => SKIP_CLASSES.has(c))) return true;
  const id = attr(attrs, 'id');
  return id !== null && SKIP_IDS.has(id);
}

// Returns [{heading: level 1..6, text} | {text}] in page order.
export function htmlBlocks(html, where) {
  const blocks = [];
  let buf = '';
  let heading = 0;    // level of the heading being read, 0 outside headings
  let skip = null;    // {tag, depth} while inside a dropped element
  let inTerm = false; // inside <dt>
  const flush = () => {
    const text = decodeEntities(buf, where).replace(/\s+/g, ' ').trim();
    buf = '';
    if (!text) return;
    blocks.push(heading ? { heading, text } : inTerm ? { text, term: true } : { text });
  };
  TOKEN.lastIndex = 0;
  let m;
  while ((m = TOKEN.exec(html)) !== null) {
    const [tok, close, rawTag, attrs = '', selfClose] = m;
    if (rawTag === undefined) {
      if (!skip && tok[0] !== '<') buf += tok;
      else if (!skip && tok === '<') buf += '<';
      continue; // comments, doctype, processing instructions
    }
    const tag = rawTag.toLowerCase();
    const isVoid = VOID.has(tag) || selfClose === '/';
    if (skip) {
      if (tag === skip.tag && !isVoid) skip.depth += close ? -1 : 1;
      if (skip.depth === 0) skip = null;
      continue;
    }
    if (!close && skipped(tag, attrs)) {
      if (!isVoid) skip = { tag, depth: 1 };
      continue;
    }
    const h = /^h([1-6])$/.exec(tag);
    if (h) {
      flush();
      heading = close ? 0 : Number(h[1]);
    } else if (BLOCK.has(tag)) {
      if (heading) buf += ' '; // a block inside a heading (rare) is just a space
      else flush();
      if (tag === 'dt') inTerm = !close;
    } else if (tag === 'br') {
      buf += ' ';
    }
  }
  if (skip) throw new Error(`${where}: unclosed <${skip.tag}> (the HTML reader lost its place)`);
  flush();
  return joinTerms(blocks);
}

// A definition list's terms (<dt>) are joined to the first paragraph of their definition:
// "Maintainer (mandatory): The package maintainer's name ...", "6.5 & 6.6: The new package
// version ...". Several terms for one definition are joined with ", ". A term without a
// definition paragraph, or a long one, stays a paragraph of its own.
function joinTerms(blocks) {
  const out = [];
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    const prev = out[out.length - 1];
    if (prev && prev.text === b.text && !prev.heading === !b.heading) continue; // a repeated title
    if (!b.term) { out.push(b); continue; }
    let term = b.text;
    while (i + 1 < blocks.length && blocks[i + 1].term) term += `, ${blocks[++i].text}`;
    const next = blocks[i + 1];
    if (next && !next.heading && term.length <= MAX_TERM) {
      out.push({ text: /[:.?!]$/.test(term) ? `${term} ${next.text}` : `${term}: ${next.text}` });
      i++;
    } else {
      out.push({ text: term });
    }
  }
  return out;
}

const words = (t) => t.split(' ').filter(Boolean).length;
const count = (t, re) => (t.match(re) || []).length;

// Prose is mostly letters and digits (digits are wanted: dates, versions, section numbers);
// commands, paths and URLs are not, and need not be: a paragraph must be MIN_ALNUM_RATIO
// letters or digits and MIN_LETTER_RATIO letters (of its non-space characters), have 3 words
// or more, and not be a bare link ("→ https://...", as the handbook prints its links).
export function keepParagraph(b) {
  const chars = b.text.replace(/\s/g, '');
  const letters = count(chars, /\p{L}/gu);
  if (b.heading) return letters >= 3;
  const alnum = letters + count(chars, /\p{N}/gu);
  return words(b.text) >= 3 && !/^(→ )?[a-z]+:\/\/\S+$/.test(b.text)
    && alnum >= MIN_ALNUM_RATIO * chars.length && letters >= MIN_LETTER_RATIO * chars.length;
}

// ---------------------------------------------------------------------------
// Section tree -> documents.
// ---------------------------------------------------------------------------

const bytesOf = (paras) => paras.reduce((a, p) => a + Buffer.byteLength(p, 'utf8') + 2, 0);

// Builds the section tree of one page: nodes {level, title, paras, children}. The root holds
// what comes before the first heading and is titled by the page's first heading.
function sectionTree(blocks, pageName) {
  const first = blocks.find((b) => b.heading);
  const root = { level: 0, title: first ? first.text : pageName, paras: [], children: [] };
  const stack = [root];
  for (const b of blocks) {
    if (b.heading) {
      while (stack[stack.length - 1].level >= b.heading) stack.pop();
      const node = { level: b.heading, title: b.text, paras: [b.text], children: [] };
      stack[stack.length - 1].children.push(node);
      stack.push(node);
    } else {
      stack[stack.length - 1].paras.push(b.text);
    }
  }
  return root;
}

const nodeBytes = (n) => bytesOf(n.paras) + n.children.reduce((a, c) => a + nodeBytes(c), 0);
const flatten = (n) => [...n.paras, ...n.children.flatMap(flatten)];

// Drops sections whose title matches one of the patterns (with their subsections).
function prune(node, patterns) {
  node.children = node.children.filter((c) => !patterns.some((re) => re.test(c.title)));
  node.children.forEach((c) => prune(c, patterns));
  return node;
}

// Pieces {title, paras} of one section, each at most MAX_DOC bytes where possible.
function pieces(node) {
  // A page is usually one section: its root holds nothing but that section's heading node.
  while (node.paras.length === 0 && node.children.length === 1) node = node.children[0];
  if (nodeBytes(node) <= MAX_DOC) return [{ title: node.title, paras: flatten(node) }];
  const out = [];
  if (node.children.length === 0) {
    // A long section without subsections: cut between paragraphs into near-equal parts.
    const total = bytesOf(node.paras);
    const n = Math.ceil(total / MAX_DOC);
    let cur = [];
    let part = 1;
    for (const p of node.paras) {
      cur.push(p);
      if (bytesOf(cur) >= total / n && part < n) {
        out.push({ title: `${node.title} (part ${part++})`, paras: cur });
        cur = [];
      }
    }
    if (cur.length) out.push({ title: `${node.title} (part ${part})`, paras: cur });
    return out;
  }
  if (node.paras.length) out.push({ title: node.title, paras: node.paras });
  for (const c of node.children) out.push(...pieces(c));
  // Merge small pieces into the next one (an introduction into its first subsection), or else
  // into the previous one, while the result stays within MAX_DOC.
  const merged = [];
  for (let i = 0; i < out.length; i++) {
    const p = out[i];
    const size = bytesOf(p.paras);
    if (size < MIN_DOC && i + 1 < out.length && size + bytesOf(out[i + 1].paras) <= MAX_DOC) {
      out[i + 1] = { title: p.title, paras: [...p.paras, ...out[i + 1].paras] };
    } else if (size < MIN_DOC && merged.length && size + bytesOf(merged[merged.length - 1].paras) <= MAX_DOC) {
      const prev = merged[merged.length - 1];
      prev.paras = [...prev.paras, ...p.paras];
    } else {
      merged.push(p);
    }
  }
  return merged;
}

function slug(s) {
  return s.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 70).replace(/-+$/, '') || 'untitled';
}

function normalizeDoc(paras) {
  const t = paras.map((p) => p.normalize('NFC')
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ')
    .replace(/[\u00ad\u200b-\u200d\u2060\ufeff]/g, '') // soft hyphens, zero-width characters
    .replace(/\s+/g, ' ').trim())
    .filter(Boolean).join('\n\n');
  return t + '\n';
}

function listFiles(dir, rel = '') {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? listFiles(dir, r) : [r];
  }).sort();
}

function convertPackage(name, version, root) {
  const cfg = PACKAGES[name];
  if (!cfg) throw new Error(`no conversion rules for package ${name} (known: ${Object.keys(PACKAGES).join(', ')})`);
  const dir = path.join(root, cfg.dir);
  if (!fs.existsSync(dir)) throw new Error(`package ${name}: ${cfg.dir} not found in the unpacked .deb`);
  const pages = cfg.pages(listFiles(dir));
  if (pages.length !== cfg.expectPages) {
    throw new Error(`package ${name}: found ${pages.length} HTML pages in ${cfg.dir}, expected ${cfg.expectPages}`);
  }
  const docs = [];
  const seen = new Set();
  let dropped = 0;
  for (const page of pages) {
    const where = `${name} ${cfg.dir}/${page}`;
    let html;
    try { html = fs.readFileSync(path.join(dir, page), 'utf8'); } catch (e) { throw new Error(`${where}: ${e.message}`); }
    const blocks = htmlBlocks(html, where).filter(keepParagraph);
    const tree = prune(sectionTree(blocks, page.replace(/\.html$/, '')), cfg.skipTitles);
    for (const p of pieces(tree)) {
      const text = normalizeDoc(p.paras);
      if (Buffer.byteLength(text, 'utf8') < MIN_KEEP) { dropped++; continue; }
      const [book, idPrefix] = cfg.book(page);
      const base = `${name}/${idPrefix}${slug(p.title)}`;
      let id = base;
      for (let k = 2; seen.has(id); k++) id = `${base}-${k}`;
      seen.add(id);
      docs.push({ id, package: name, version, title: `${book}: ${p.title}`, text });
    }
  }
  if (docs.length === 0) throw new Error(`package ${name}: no documents (empty output)`);
  return { docs, dropped };
}

// ---------------------------------------------------------------------------
// Build, check, summary.
// ---------------------------------------------------------------------------

function validate(doc) {
  rejectPatterns(doc, [
    // Literal "<type>" in the prose is fine (it was &lt;type&gt;); leftover markup is not.
    [/<\/[A-Za-z][A-Za-z0-9]*>|<[A-Za-z][A-Za-z0-9]*\s+[A-Za-z-]+="/, 'an HTML tag'],
    [/&(#\d+|#x[0-9a-f]+|[a-z]+);/i, 'an HTML entity'],
    [/\uFFFD/, 'a U+FFFD replacement character (bad UTF-8)'],
    [/[\u0000-\u0009\u000b-\u001f]/, 'a control character'],
    [/\n\n\n/, 'more than one blank line'],
  ]);
}

function summarize(docs) {
  const rows = [`${'package'.padEnd(22)}${'version'.padEnd(16)}${'docs'.padStart(6)}${'bytes'.padStart(11)}`];
  const names = [...new Set(docs.map((d) => d.package))].sort();
  for (const p of names) {
    const mine = docs.filter((d) => d.package === p);
    rows.push(`${p.padEnd(22)}${mine[0].version.padEnd(16)}${String(mine.length).padStart(6)}${String(mine.reduce((a, d) => a + d.bytes, 0)).padStart(11)}`);
  }
  rows.push(`${'all'.padEnd(38)}${String(docs.length).padStart(6)}${String(docs.reduce((a, d) => a + d.bytes, 0)).padStart(11)}`);
  return rows.join('\n');
}

function build(opts) {
  const out = opts.out;
  if (fs.existsSync(out)) throw new Error(`output directory ${out} already exists`);
  const pkgs = [].concat(opts.pkg ?? []);
  if (pkgs.length === 0) throw new Error('no --pkg given');
  const docs = [];
  const dropped = {};
  for (const spec of pkgs) {
    const m = /^([a-z0-9.+-]+)=([^=]+)=(.+)$/.exec(spec);
    if (!m) throw new Error(`bad --pkg ${spec} (expected NAME=VERSION=DIR)`);
    const r = convertPackage(m[1], m[2], m[3]);
    docs.push(...r.docs);
    dropped[m[1]] = r.dropped;
  }
  const byText = new Map();
  const files = new Set();
  for (const d of docs) {
    validate(d);
    d.bytes = Buffer.byteLength(d.text, 'utf8');
    d.sha256 = sha256(d.text);
    d.file = `${d.id.replace('/', '-')}.txt`;
    if (files.has(d.file)) throw new Error(`two documents would be written to ${d.file}`);
    files.add(d.file);
    const other = byText.get(d.sha256);
    if (other) throw new Error(`documents ${other.id} and ${d.id} have identical text`);
    byText.set(d.sha256, d);
  }
  fs.mkdirSync(out, { recursive: true });
  const head = {
    format: 1,
    version: opts.version,
    purpose: 'held-out haystack text for the out-of-template evaluation; never pass to chunkllm pretrain or chunkllm train',
  };
  writeOutput(out, docs, head, ['id', 'package', 'version', 'bytes', 'sha256', 'file', 'title']);
  console.log(summarize(docs));
  const nDropped = Object.values(dropped).reduce((a, b) => a + b, 0);
  if (nDropped) console.log(`(left out ${nDropped} pieces under ${MIN_KEEP} bytes)`);
}

const TAG = 'heldout-to-text';
runMain(import.meta.url, {
  tag: TAG,
  usage: 'usage: heldout-to-text.mjs build|check --out DIR --version STR [--pkg NAME=VERSION=DIR ...]',
  args: { repeated: ['pkg'] },
  build,
  check: (opts) => checkOutput(opts, TAG, summarize, { requireDocuments: true }),
});
