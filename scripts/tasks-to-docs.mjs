// Turns task records (JSONL from `chunkllm eval --dump`) into plain-text training documents:
// context, question, answer prefix, then the answer and a full stop, one document a file.
// scripts/train-adapters.sh uses it to mix the backbone's synthetic retrieval documents into
// the adapters' distillation data (models/README.md says why). Node only, no dependencies.
//
//   node tasks-to-docs.mjs TASKS.jsonl OUTDIR
//       Writes OUTDIR/task-00000.txt ...; OUTDIR must not exist yet (written to a temp
//       directory beside it and renamed into place, so a cut-off run leaves nothing half-made).
import fs from 'node:fs';
import path from 'node:path';

let tmp = null;  // the half-written output, removed on failure

function fail(msg) {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`tasks-to-docs: ${msg}\n`);
  process.exit(1);
}

const [input, outDir] = process.argv.slice(2);
if (!input || !outDir) fail('usage: node tasks-to-docs.mjs TASKS.jsonl OUTDIR');
if (fs.existsSync(outDir)) fail(`${outDir} exists already`);
let text;
try {
  text = fs.readFileSync(input, 'utf8');
} catch (e) {
  fail(`${input}: ${e.message}`);
}
tmp = `${outDir}.tmp-${process.pid}`;
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(tmp, { recursive: true });
let n = 0;
text.split('\n').forEach((line, i) => {
  if (line.trim() === '') return;
  let r;
  try {
    r = JSON.parse(line);
  } catch (e) {
    fail(`${input}:${i + 1}: not JSON (${e.message})`);
  }
  for (const key of ['context', 'question', 'answer_prefix']) {
    if (typeof r[key] !== 'string') fail(`${input}:${i + 1}: "${key}" must be a string`);
  }
  if (!Array.isArray(r.answers) || r.answers.length === 0) fail(`${input}:${i + 1}: "answers" must be a non-empty list`);
  // The same document form as pretraining's synthetic rows (src/pretrain/pretrain_data.cpp).
  const doc = r.context + r.question + r.answer_prefix + ' ' + r.answers.join(', ') + '.\n';
  fs.writeFileSync(path.join(tmp, `task-${String(n).padStart(5, '0')}.txt`), doc);
  n += 1;
});
if (n === 0) fail(`${input}: no task records`);
fs.renameSync(tmp, outDir);
tmp = null;
process.stdout.write(`tasks-to-docs: wrote ${n} documents to ${outDir}\n`);
