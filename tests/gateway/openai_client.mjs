// A client of llmc-gateway written with the official `openai` npm package.
//   node openai_client.mjs BASE_URL MODEL PROMPT stream|nostream
// Prints the answer's content (stream: the deltas joined) and nothing else;
// on stderr, one JSON line with what else came back (finish reason, usage,
// number of chunks). The package is looked up in $OPENAI_NODE_DIR
// (build/node, where the test setup installs it).
import { createRequire } from 'node:module';
import path from 'node:path';

const dir = path.resolve(process.env.OPENAI_NODE_DIR || 'build/node');
const require = createRequire(path.join(dir, 'node_modules', 'x.js'));
const OpenAI = require('openai');

const [baseURL, model, prompt, mode] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'x', maxRetries: 0, timeout: 20000 });
const messages = [{ role: 'user', content: prompt }];

async function main() {
  if (mode === 'stream') {
    const stream = await client.chat.completions.create({
      model, messages, stream: true, stream_options: { include_usage: true },
    });
    let chunks = 0, finish = null, usage = null, out = '';
    for await (const chunk of stream) {
      chunks++;
      if (chunk.usage) usage = chunk.usage;
      const ch = chunk.choices[0];
      if (!ch) continue;
      if (ch.delta && ch.delta.content) out += ch.delta.content;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    process.stdout.write(out);
    process.stderr.write(JSON.stringify({ chunks, finish, usage }) + '\n');
  } else {
    const r = await client.chat.completions.create({ model, messages, max_tokens: 100 });
    process.stdout.write(r.choices[0].message.content);
    process.stderr.write(JSON.stringify({
      finish: r.choices[0].finish_reason, usage: r.usage, object: r.object,
    }) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write('error: ' + (e && e.status ? e.status + ' ' : '') + String(e && e.message) + '\n');
  process.exit(1);
});
