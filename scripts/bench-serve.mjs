// Benchmarks `chunkllm serve` as clients see it (issue 37, docs/benchmarks.md "Serve"). Starts the
// server on a free port of 127.0.0.1, runs two workloads, stops it, and prints a JSON report (and
// writes it to -o). No npm packages: Node's fetch and server-sent events parsed by hand.
//
//  1. A long document, per method: a cold streaming request (the document and a question), then
//     the next turn (that prompt, its answer and a second question), which the slot's prompt
//     cache serves. Time to first token as the client sees it, and decode tokens/s.
//  2. Aggregate decode: 1, 2, ... concurrent requests (short distinct prompts, a fixed number of
//     tokens each with ignore_eos): text events (a token each, bar a held-back partial character or
//     stop-string prefix) streamed per second while all of them are generating
//     (from the last one's first token to the first one's last), and generated tokens over the
//     wall time from the requests to their ends (prefills included); medians of --repeat runs.
//
// Usage: node scripts/bench-serve.mjs -m MODEL [--adapters A] [--bin build/bin/chunkllm] [-t 2]
//          [--doc-tokens 16384] [--methods dense,chunkllm] [--slots 1,2,4] [--gen 128]
//          [--repeat 3] [-o report.json] [-- extra serve flags]
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';

function parseArgs(argv) {
  const o = { bin: 'build/bin/chunkllm', threads: 2, docTokens: 16384, methods: ['dense', 'chunkllm'],
    slots: [1, 2, 4], gen: 128, repeat: 3, out: '', extra: [], model: '', adapters: '' };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const positive = (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${a} must be a positive integer, got '${v}'`);
      return n;
    };
    if (a === '--') { o.extra = argv.slice(i + 1); break; }
    else if (a === '-m' || a === '--model') o.model = next();
    else if (a === '--adapters') o.adapters = next();
    else if (a === '--bin') o.bin = next();
    else if (a === '-t' || a === '--threads') o.threads = positive(next());
    else if (a === '--doc-tokens') o.docTokens = positive(next());
    else if (a === '--methods') o.methods = next().split(',');
    else if (a === '--slots') o.slots = next().split(',').map(positive);
    else if (a === '--gen') o.gen = positive(next());
    else if (a === '--repeat') o.repeat = positive(next());
    else if (a === '-o' || a === '--output') o.out = next();
    else throw new Error(`unknown flag '${a}' (see the usage at the top of scripts/bench-serve.mjs)`);
  }
  if (!o.model) throw new Error('-m MODEL is required');
  return o;
}

// Starts the server; resolves with {proc, url} once it printed `ready`.
function startServer(o, ctx, slots) {
  const args = ['serve', '-m', o.model, '--host', '127.0.0.1', '--port', '0', '-c', String(ctx), '-np', String(slots),
    '-t', String(o.threads), ...(o.adapters ? ['--adapters', o.adapters] : []), ...o.extra];
  const proc = spawn(o.bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '', url = '';
    const timer = setTimeout(() => { proc.kill('SIGTERM'); reject(new Error('the server did not get ready in 120 s')); }, 120000);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited with ${code} before it was ready`)); });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) url = m[1];
      if (url && /\bready\b/.test(out)) { clearTimeout(timer); proc.removeAllListeners('exit'); resolve({ proc, url }); }
    });
  });
}

async function stopServer(proc) {
  const done = new Promise((r) => proc.on('exit', r));
  proc.kill('SIGTERM');
  await done;
}

// One streaming completion; returns client-side times and the server's final figures.
async function complete(url, body) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let buf = '', text = '', first = 0, last = 0, usage = null, figures = null;
  const times = [];  // when each text event arrived
  const decoder = new TextDecoder();
  for await (const part of res.body) {
    buf += decoder.decode(part, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const j = JSON.parse(event.slice(6));
      if (j.error) throw new Error(JSON.stringify(j.error));
      if (j.usage) usage = j.usage;
      if (j.chunkllm) figures = j.chunkllm;
      const delta = j.choices && j.choices.length ? j.choices[0].text || '' : '';
      if (delta) {
        const now = performance.now();
        if (!first) first = now;
        last = now;
        text += delta;
        times.push(now);
      }
    }
  }
  const end = performance.now();
  return { text, times, ttft_s: (first - t0) / 1000, total_s: (end - t0) / 1000, stream_s: (last - first) / 1000, usage, figures };
}

// Text of the held-out corpus split (data/corpus/test), documents joined, at least `chars` long.
function corpusText(chars, skip = 0) {
  const dir = 'data/corpus/test';
  const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
  let text = '';
  for (let i = 0; text.length < chars; ++i) text += readFileSync(join(dir, files[(i + skip) % files.length]), 'utf8') + '\n\n';
  return text;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const maxSlots = Math.max(...o.slots);
  const report = { cpu: cpus()[0].model, threads: o.threads, model: o.model, adapters: o.adapters || null,
    doc_tokens_target: o.docTokens, gen: o.gen, document: [], aggregate: [] };
  const ctx = Math.ceil((o.docTokens + 3 * o.gen + 512) / 256) * 256;
  const { proc, url } = await startServer(o, ctx, maxSlots);
  try {
    // Characters per token of this text and tokenizer, from one short request (about half a
    // slot's context at 4 characters a token or more).
    const sampleChars = Math.min(40000, 2 * ctx);
    // Other text than the document's start, so the document's first request finds no cached prefix.
    const sample = corpusText(sampleChars, 11).slice(0, sampleChars);
    const probe = await complete(url, { prompt: sample, max_tokens: 1, chunkllm: { attn: 'dense' } });
    const charsPerToken = sample.length / probe.usage.prompt_tokens;
    const doc = corpusText(o.docTokens * charsPerToken * 1.1).slice(0, Math.floor(o.docTokens * charsPerToken));

    for (const method of o.methods) {
      const first = `${doc}\n\nQuestion: Who is the first person this text names?\nAnswer:`;
      const cold = await complete(url, { prompt: first, max_tokens: o.gen, ignore_eos: true, seed: 1, chunkllm: { attn: method } });
      const next = `${first}${cold.text}\n\nQuestion: And the last person it names?\nAnswer:`;
      const warm = await complete(url, { prompt: next, max_tokens: o.gen, ignore_eos: true, seed: 1, chunkllm: { attn: method } });
      for (const [turn, r] of [['cold', cold], ['next turn (cached)', warm]]) {
        report.document.push({ method, turn, prompt_tokens: r.usage.prompt_tokens,
          cached_tokens: r.usage.prompt_tokens_details ? r.usage.prompt_tokens_details.cached_tokens : 0,
          ttft_s: r.ttft_s, decode_tokens_per_s: r.figures.decode_tokens_per_s,
          client_decode_tokens_per_s: r.stream_s > 0 ? (r.usage.completion_tokens - 1) / r.stream_s : null,
          attended_fraction: r.figures.attended_fraction });
        process.stderr.write(`bench-serve: ${method} ${turn}: ${r.usage.prompt_tokens} prompt tokens, ttft ${r.ttft_s.toFixed(2)} s\n`);
      }
    }

    for (const method of o.methods) {
      for (const n of o.slots) {
        const rates = [], steady = [];
        for (let rep = 0; rep < o.repeat; ++rep) {
          // Prompts no earlier run used, so none is served from a slot's prompt cache.
          const prompts = Array.from({ length: n }, (_, i) => corpusText(3000, 7 * i + rep + 13 * n).slice(0, 3000));
          const t0 = performance.now();
          const rs = await Promise.all(prompts.map((p, i) =>
            complete(url, { prompt: p, max_tokens: o.gen, ignore_eos: true, seed: i, chunkllm: { attn: method } })));
          const wall = (performance.now() - t0) / 1000;
          const generated = rs.reduce((s, r) => s + r.usage.completion_tokens, 0);
          rates.push(generated / wall);
          // Decoding together: from the last request's first token to the first request's last,
          // every request is generating; the text events in that window over its length.
          const from = Math.max(...rs.map((r) => r.times[0])), to = Math.min(...rs.map((r) => r.times[r.times.length - 1]));
          const inside = rs.reduce((s, r) => s + r.times.filter((t) => t > from && t <= to).length, 0);
          steady.push(to > from ? inside / ((to - from) / 1000) : NaN);
        }
        report.aggregate.push({ method, concurrent: n, decode_tokens_per_s: median(steady), tokens_per_s: median(rates),
          runs: rates, decode_runs: steady });
        process.stderr.write(`bench-serve: ${method}, ${n} at once: decoding ${median(steady).toFixed(1)} tokens/s, ` +
          `${median(rates).toFixed(1)} tokens/s of wall time from the requests to their ends\n`);
      }
      const one = report.aggregate.find((a) => a.method === method && a.concurrent === 1);
      if (one) for (const a of report.aggregate) if (a.method === method) a.decode_over_one_slot = a.decode_tokens_per_s / one.decode_tokens_per_s;
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const m = metrics.match(/^chunkllm_slots_per_decode (\S+)/m);
    report.slots_per_decode = m ? Number(m[1]) : null;
  } finally {
    await stopServer(proc);
  }
  const json = JSON.stringify(report, null, 2);
  if (o.out) {
    writeFileSync(`${o.out}.tmp`, json + '\n');
    renameSync(`${o.out}.tmp`, o.out);
  }
  process.stdout.write(json + '\n');
}

main().catch((e) => { process.stderr.write(`bench-serve: error: ${e.message}\n`); process.exit(1); });
