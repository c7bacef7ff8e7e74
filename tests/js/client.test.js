// The client against the Rhetor simulator: every call, the headers and body it sends, path-prefix
// and auth-token servers.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const TektonLLMClient = require('../../python/tekton_llm_client/static/js/tekton-llm-client.js');
const { startSimulator } = require('./_simulator.js');

const answer = (prompt) => `Simulated answer to: ${prompt}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let sim, prefixed, guarded;
test.before(async () => {
  [sim, prefixed, guarded] = await Promise.all([
    startSimulator(),
    startSimulator(['--path-prefix', '/api/llm']),
    startSimulator(['--auth-token', 'sekrit']),
  ]);
});
test.after(async () => {
  await Promise.all([sim, prefixed, guarded].filter(Boolean).map((s) => s.close()));
});

const client = (opts = {}) => new TektonLLMClient({ componentId: 'js-tests', rhetorUrl: sim.url, ...opts });

// Collects a stream: the chunks handed to onChunk and the onComplete / onError calls.
function collector() {
  const c = { chunks: [], completed: [], errors: [] };
  c.onChunk = (ch) => c.chunks.push(ch);
  c.opts = { onComplete: (r) => c.completed.push(r), onError: (e) => c.errors.push(e) };
  c.text = () => c.chunks.map((ch) => ch.chunk).join('');
  return c;
}

test('health', async () => {
  const h = await client().health();
  assert.ok(['healthy', 'degraded'].includes(h.status), JSON.stringify(h));
});

test('getProviders', async () => {
  const p = await client().getProviders();
  assert.equal(typeof p.providers, 'object');
  assert.ok(Object.keys(p.providers).length > 0);
  assert.equal(typeof p.default_provider, 'string');
});

test('generateText returns the whole answer and its metadata', async () => {
  const r = await client().generateText('Hello there');
  assert.equal(r.content, answer('Hello there'));
  assert.equal(typeof r.model, 'string');
  assert.equal(typeof r.provider, 'string');
  assert.equal(r.fallback, false);
  assert.equal(r.contextId, 'js-tests');
  assert.match(r.requestId, UUID);
  assert.equal(typeof r.latency, 'number');
  assert.equal(typeof r.timestamp, 'string');
});

test('generateChatResponse answers the last user message', async () => {
  const r = await client().generateChatResponse([
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'first' },
    { role: 'assistant', content: 'ok' },
    { role: 'user', content: 'second question' },
  ], { contextId: 'conv-1' });
  assert.equal(r.content, answer('second question'));
  assert.equal(r.contextId, 'conv-1');
});

test('streamText delivers chunks, one done chunk, and resolves with the whole answer', async () => {
  const c = collector();
  const p = client().streamText('stream me please', c.onChunk, c.opts);
  assert.match(p.requestId, UUID);
  const result = await p;
  assert.equal(c.text(), answer('stream me please'));
  assert.ok(c.chunks.length > 2, 'the answer arrives in several chunks');
  assert.deepEqual(c.chunks.map((ch) => ch.done), [...Array(c.chunks.length - 1).fill(false), true]);
  assert.equal(result.content, answer('stream me please'));
  assert.equal(result.requestId, p.requestId);
  assert.deepEqual(c.completed, [result]);
  assert.deepEqual(c.errors, []);
  assert.equal(typeof c.chunks[0].model, 'string');
});

test('streamChat streams the answer to a conversation', async () => {
  const c = collector();
  const r = await client().streamChat([
    { role: 'user', content: 'one' }, { role: 'assistant', content: 'two' }, { role: 'user', content: 'three' },
  ], c.onChunk, c.opts);
  assert.equal(r.content, answer('three'));
  assert.equal(c.text(), answer('three'));
});

test('streams framed with CR or CRLF, keep-alive pings and malformed lines decode the same', async () => {
  const variants = [
    { 'X-Sim-Line-Ending': 'cr' },
    { 'X-Sim-Line-Ending': 'crlf', 'X-Sim-Done-Marker': 'false' },
    { 'X-Sim-Ping-Every-Ms': '1', 'X-Sim-Chunk-Delay-Ms': '5', 'X-Sim-Chunks': '4' },
    { 'X-Sim-Malformed-After': '1' },
    { 'X-Sim-Chunk-Size': '1' },
    { 'X-Sim-Trickle-Ms': '1', 'X-Sim-Length': '64' },
  ];
  for (const headers of variants) {
    const c = collector();
    const r = await client().streamText('framing ünïcödé ✓ 🚀', c.onChunk, { ...c.opts, headers });
    assert.ok(r.content.startsWith(answer('framing ünïcödé ✓ 🚀')), JSON.stringify(headers));
    assert.equal(c.text(), r.content);
    assert.equal(c.chunks.filter((ch) => ch.done).length, 1, JSON.stringify(headers));
    assert.deepEqual(c.errors, []);
  }
});

test('a base URL with a path prefix is a prefix: /api/llm + /api/v1/...', async () => {
  for (const base of [`${prefixed.url}/api/llm`, `${prefixed.url}/api/llm/`]) {
    const urls = [];
    // The real fetch, watched: proves the paths were appended to the prefix, not put at the root.
    const watched = (url, init) => { urls.push(url); return fetch(url, init); };
    const c = new TektonLLMClient({ rhetorUrl: base, fetch: watched });
    assert.equal((await c.generateText('prefixed')).content, answer('prefixed'));
    const col = collector();
    assert.equal((await c.streamText('prefixed stream', col.onChunk, col.opts)).content, answer('prefixed stream'));
    assert.ok(['healthy', 'degraded'].includes((await c.health()).status));
    assert.deepEqual(urls, ['/api/v1/chat', '/api/v1/chat/stream', '/api/v1/health'].map((p) => `${prefixed.url}/api/llm${p}`));
  }
});

test('auth token: sent as a bearer token; without it the server refuses with 401', async () => {
  const ok = new TektonLLMClient({ rhetorUrl: guarded.url, authToken: 'sekrit' });
  assert.equal((await ok.generateText('with token')).content, answer('with token'));
  const col = collector();
  assert.equal((await ok.streamText('with token', col.onChunk, col.opts)).content, answer('with token'));
  const err = await new TektonLLMClient({ rhetorUrl: guarded.url }).generateText('no token').then(
    () => assert.fail('should have been refused'), (e) => e);
  assert.equal(err.status, 401);
  assert.equal(err.name, 'AuthenticationError');
  assert.ok(err instanceof TektonLLMClient.TektonLLMError);
  assert.match(err.requestId, UUID);
});
