// Drives `chunkllm serve` with the official `openai` npm client (scripts/fetch-deps.sh pins it):
// chat and text completions, each without and with streaming, for the same seed. Prints one JSON
// object with the texts, the usage and the chunkllm figures; the C++ test compares them.
// Usage: node openai_client.cjs BASE_URL API_KEY
'use strict';
const { OpenAI } = require('openai');

async function main() {
  const [baseURL, apiKey] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey, timeout: 60000, maxRetries: 0 });
  const out = {};
  const models = await client.models.list();
  out.model = models.data[0].id;
  const chat = {
    model: out.model,
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Tell me about rivers.' }],
    max_tokens: 16, seed: 21, temperature: 0.8,
    chunkllm: { attn: 'dense' },
  };
  const c1 = await client.chat.completions.create(chat);
  out.chat = c1.choices[0].message.content;
  out.chat_usage = c1.usage;
  out.chat_chunkllm = c1.chunkllm;
  let streamed = '';
  let finish = null;
  let usage = null;
  for await (const chunk of await client.chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } })) {
    if (chunk.usage) usage = chunk.usage;
    if (!chunk.choices.length) continue;
    streamed += chunk.choices[0].delta.content || '';
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  out.chat_stream = streamed;
  out.chat_stream_finish = finish;
  out.chat_stream_usage = usage;
  const completion = { model: out.model, prompt: 'The mountain', max_tokens: 16, seed: 22, temperature: 0.8 };
  out.completion = (await client.completions.create(completion)).choices[0].text;
  streamed = '';
  for await (const chunk of await client.completions.create({ ...completion, stream: true })) {
    if (chunk.choices.length) streamed += chunk.choices[0].text || '';
  }
  out.completion_stream = streamed;
  try {
    await new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 }).completions.create(completion);
    out.wrong_key_status = 200;
  } catch (e) {
    out.wrong_key_status = e.status;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
