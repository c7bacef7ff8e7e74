// Failures against the simulator's fault knobs: HTTP errors, error events, streams cut short,
// stalls (timeout) and cancels (AbortError, never a timeout). No timing assertions: timeouts are
// small only so that the suite is quick, and stalls are endless so the outcome cannot flip.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const TektonLLMClient = require('../../python/tekton_llm_client/static/js/tekton-llm-client.js');
const { startSimulator } = require('./_simulator.js');

const answer = (prompt) => `Simulated answer to: ${prompt}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let sim;
test.before(async () => { sim = await startSimulator(); });
test.after(async () => { if (sim) await sim.close(); });

const client = (opts = {}) => new TektonLLMClient({ componentId: 'js-errors', rhetorUrl: sim.url, ...opts });

// Runs a stream to its end; returns what onChunk / onError / onComplete saw and how it settled.
async function runStream(prompt, opts = {}, c = client()) {
  const seen = { chunks: [], errors: [], completed: [] };
  const p = c.streamText(prompt, (ch) => seen.chunks.push(ch), {
    onError: (e) => seen.errors.push(e), onComplete: (r) => seen.completed.push(r), ...opts,
  });
  seen.requestId = p.requestId;
  try { seen.result = await p; } catch (e) { seen.error = e; }
  seen.text = seen.chunks.map((ch) => ch.chunk).join('');
  return seen;
}

const rejection = (promise) => promise.then(() => assert.fail('expected a rejection'), (e) => e);

test('HTTP errors carry status, the server message and the request id', async () => {
  const cases = [
    [400, 'InvalidRequestError'], [401, 'AuthenticationError'], [422, 'InvalidRequestError'],
    [429, 'RateLimitError'], [500, 'ServiceUnavailableError'], [503, 'ServiceUnavailableError'],
  ];
  for (const [status, name] of cases) {
    const err = await rejection(client().generateText('x', { headers: { 'X-Sim-Fail-Status': String(status) } }));
    assert.equal(err.status, status);
    assert.equal(err.name, name);
    assert.ok(err instanceof TektonLLMClient.TektonLLMError);
    assert.match(err.requestId, UUID);
    assert.ok(err.message.length > 0 && err.message.includes(String(status)), err.message);
  }
});

test('HTTP error message: {"error"}, FastAPI {"detail"}, or the body text', async () => {
  const fetchWith = (body, type) => async () => new Response(body, { status: 500, headers: { 'Content-Type': type } });
  const msg = async (body, type = 'application/json') => {
    const err = await rejection(new TektonLLMClient({ rhetorUrl: 'http://r.test', fetch: fetchWith(body, type) }).generateText('x'));
    assert.ok(err.message.startsWith(err.serverMessage));
    return err.message;
  };
  assert.match(await msg('{"error": "provider exploded"}'), /^provider exploded/);
  assert.match(await msg('{"detail": "Internal thing"}'), /^Internal thing/);
  assert.match(await msg('{"detail": [{"loc": ["body", "messages"], "msg": "field required"}]}'), /body\.messages: field required/);
  assert.match(await msg('<html>Bad Gateway</html>', 'text/html'), /^<html>Bad Gateway<\/html>/);
});

test('an HTTP error on a stream rejects and calls onError', async () => {
  const s = await runStream('x', { headers: { 'X-Sim-Fail-Status': '503' } });
  assert.equal(s.error.status, 503);
  assert.equal(s.error.requestId, s.requestId);
  assert.deepEqual(s.errors, [s.error]);
  assert.deepEqual(s.completed, []);
});

test('an {"error"} event rejects with that error and keeps the partial text', async () => {
  const s = await runStream('error event please', { headers: { 'X-Sim-Error-After': '2' } });
  assert.ok(s.error instanceof TektonLLMClient.TektonLLMError, String(s.error));
  assert.ok(!(s.error instanceof TektonLLMClient.StreamInterruptedError));
  assert.ok(s.error.message.length > 0);
  assert.equal(s.error.partial, s.text);
  assert.ok(s.text.length > 0 && answer('error event please').startsWith(s.text));
  assert.deepEqual(s.errors, [s.error]);
  assert.deepEqual(s.completed, []);
});

test('a stream cut off mid-way is an error with the partial text, never a silent success', async () => {
  const s = await runStream('cut me off', { headers: { 'X-Sim-Cut-After': '2', 'X-Sim-Length': '300' } });
  assert.ok(s.error, 'the cut must reject');
  assert.ok(s.error instanceof TektonLLMClient.TektonLLMError, String(s.error));
  assert.notEqual(s.error.name, 'AbortError');
  assert.equal(s.error.partial, s.text);
  // Both chunks sent before the reset arrive and are kept.
  assert.equal(s.chunks.filter((ch) => ch.chunk).length, 2);
  assert.ok(s.text.length > 0);
  assert.ok(s.text.startsWith(answer('cut me off')), s.text);
  assert.ok(!s.chunks.some((ch) => ch.done));
  assert.deepEqual(s.errors, [s.error]);
});

test('a stream that ends cleanly without a done event or [DONE] is interrupted', async () => {
  const s = await runStream('no done', { headers: { 'X-Sim-No-Done-After': '2' } });
  assert.ok(s.error instanceof TektonLLMClient.StreamInterruptedError, String(s.error));
  assert.equal(s.error.partial, s.text);
  assert.ok(s.text.length > 0);
  assert.deepEqual(s.completed, []);
});

test('an event that is not JSON is an error with the partial text', async () => {
  const s = await runStream('bad json', { headers: { 'X-Sim-Bad-Json-After': '1' } });
  assert.ok(s.error instanceof TektonLLMClient.TektonLLMError, String(s.error));
  assert.equal(s.error.code, 'invalid_event');
  assert.equal(s.error.partial, s.text);
  assert.ok(s.text.length > 0 && answer('bad json').startsWith(s.text));
});

test('a stalled stream times out with TimeoutError (not AbortError), keeping the partial text', async () => {
  const s = await runStream('stall', { timeout: 0.3, headers: { 'X-Sim-Stall-After': '2' } });
  assert.ok(s.error instanceof TektonLLMClient.TimeoutError, String(s.error));
  assert.equal(s.error.name, 'TimeoutError');
  assert.equal(s.error.partial, s.text);
  assert.ok(s.text.length > 0);
  assert.deepEqual(s.errors, [s.error]);
});

test('a slow stream within the gap timeout completes: the timeout is per gap, not per stream', async () => {
  // 25 chunks 100 ms apart take longer than the 2 s timeout in total; each gap is far shorter.
  const s = await runStream('slow but steady', {
    timeout: 2, headers: { 'X-Sim-Chunks': '25', 'X-Sim-Chunk-Delay-Ms': '100' },
  });
  assert.equal(s.error, undefined);
  assert.equal(s.chunks.length, 26, 'the content chunks and the done chunk');
  assert.ok(s.result.content.startsWith(answer('slow but steady')));
  assert.equal(s.text, s.result.content);
});

test('abort during a stream is an AbortError with the partial text, never a timeout', async () => {
  const ac = new AbortController();
  // The stream stalls after two chunks; the caller gives up once they are in.
  const s = await runStream('cancel me', {
    signal: ac.signal, timeout: 600, headers: { 'X-Sim-Stall-After': '2' },
  }, {
    streamText: (prompt, onChunk, opts) => client().streamText(prompt, (ch) => {
      onChunk(ch);
      if (!ac.signal.aborted) setImmediate(() => ac.abort());
    }, opts),
  });
  assert.equal(s.error.name, 'AbortError');
  assert.ok(!(s.error instanceof TektonLLMClient.TimeoutError));
  assert.doesNotMatch(s.error.message, /time/i);
  assert.equal(s.error.partial, s.text);
  assert.ok(s.text.length > 0);
  assert.equal(s.error.requestId, s.requestId);
  assert.deepEqual(s.errors, [s.error]);
  assert.deepEqual(s.completed, []);
});

test('an already-aborted signal rejects at once with AbortError', async () => {
  const ac = new AbortController();
  ac.abort();
  const e1 = await rejection(client().generateText('x', { signal: ac.signal }));
  assert.equal(e1.name, 'AbortError');
  const s = await runStream('x', { signal: ac.signal });
  assert.equal(s.error.name, 'AbortError');
  assert.equal(s.error.partial, '');
});

test('abort of a non-streaming call is AbortError; its timeout is TimeoutError', async () => {
  const slow = { 'X-Sim-First-Chunk-Delay-Ms': '600000' };
  const ac = new AbortController();
  const p = client().generateText('slow', { signal: ac.signal, timeout: 600, headers: slow });
  setImmediate(() => ac.abort());
  const aborted = await rejection(p);
  assert.equal(aborted.name, 'AbortError');
  assert.doesNotMatch(aborted.message, /time/i);

  const timedOut = await rejection(client().generateText('slow', { timeout: 0.3, headers: slow }));
  assert.ok(timedOut instanceof TektonLLMClient.TimeoutError, String(timedOut));
  assert.equal(timedOut.name, 'TimeoutError');
  assert.equal(timedOut.status, undefined);
  assert.match(timedOut.requestId, UUID);
});

test('cancelRequest(promise.requestId) cancels a stream with AbortError', async () => {
  const c = client();
  let p;
  const seen = [];
  p = c.streamText('cancel by id', (ch) => {
    seen.push(ch.chunk);
    setImmediate(() => c.cancelRequest(p.requestId));
  }, { onError: () => {}, timeout: 600, headers: { 'X-Sim-Stall-After': '1' } });
  const err = await rejection(p);
  assert.equal(err.name, 'AbortError');
  assert.equal(err.partial, seen.join(''));
  assert.equal(c.cancelRequest(p.requestId), false, 'a finished call is no longer cancellable');
});

test('an exception thrown by onChunk ends the stream with that exception', async () => {
  const boom = new Error('boom from the page');
  const s = await runStream('x', {}, {
    streamText: (prompt, onChunk, opts) => client().streamText(prompt, () => { throw boom; }, opts),
  });
  assert.equal(s.error, boom);
  assert.deepEqual(s.errors, [boom]);
});

test('connection refused is a ConnectionError', async () => {
  // Port 9 (discard) on loopback: nothing listens there in a test container.
  const err = await rejection(new TektonLLMClient({ rhetorUrl: 'http://127.0.0.1:9' }).health());
  assert.equal(err.name, 'ConnectionError');
  assert.ok(err instanceof TektonLLMClient.TektonLLMError);
});

test('guide step 9 as written: an unawaited failing stream without onError does not crash', () => {
  // A child process, because an unhandled rejection there would kill it with exit code 1.
  const script = `
    const TektonLLMClient = require(${JSON.stringify(require.resolve('../../python/tekton_llm_client/static/js/tekton-llm-client.js'))});
    const client = new TektonLLMClient({ componentId: 'my-ui-component', rhetorUrl: ${JSON.stringify(sim.url)} });
    let text = '';
    client.streamText('doomed', (chunk) => { text += chunk.chunk; }, { headers: { 'X-Sim-Cut-After': '1' } });
    client.streamText('fine', (chunk) => { text += chunk.chunk; });
    setTimeout(() => { console.log('STILL ALIVE'); }, 1500);
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /STILL ALIVE/);
  assert.match(r.stderr, /stream failed/, 'the error is logged, not swallowed');
});
