// What the client puts on the wire: URL, headers and the JSON body (docs/protocol.md), checked with a
// recording fetch so that every field can be asserted exactly.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const TektonLLMClient = require('../../python/tekton_llm_client/static/js/tekton-llm-client.js');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// A fetch that records each call and answers with a canned response.
function recordingFetch(answer = () => new Response(JSON.stringify({ content: 'ok', model: 'm', provider: 'p' }))) {
  const calls = [];
  const f = async (url, init) => {
    calls.push({ url, method: init.method, headers: init.headers, body: init.body ? JSON.parse(init.body) : undefined });
    return answer(url, init);
  };
  f.calls = calls;
  return f;
}

test('headers: component, request id, bearer token, JSON; extra headers per client and per call', async () => {
  const fetch = recordingFetch();
  const c = new TektonLLMClient({
    componentId: 'ui-x', rhetorUrl: 'http://rhetor.test/api/llm', authToken: 'tok', fetch,
    headers: { 'X-Client-Wide': '1' },
  });
  const r = await c.generateText('hi', { headers: { 'X-Sim-Chunk-Delay-Ms': '5' } });
  const [call] = fetch.calls;
  assert.equal(call.url, 'http://rhetor.test/api/llm/api/v1/chat');
  assert.equal(call.method, 'POST');
  assert.equal(call.headers['X-Tekton-Component'], 'ui-x');
  assert.match(call.headers['X-Request-ID'], UUID);
  assert.equal(call.headers['X-Request-ID'], r.requestId);
  assert.equal(call.headers['Authorization'], 'Bearer tok');
  assert.equal(call.headers['Content-Type'], 'application/json');
  assert.match(call.headers['User-Agent'], /^tekton-llm-client\//);
  assert.equal(call.headers['X-Client-Wide'], '1');
  assert.equal(call.headers['X-Sim-Chunk-Delay-Ms'], '5');
});

test('no Authorization header without a token; a fresh request id per call', async () => {
  const fetch = recordingFetch();
  const c = new TektonLLMClient({ rhetorUrl: 'http://rhetor.test', fetch });
  await c.generateText('a');
  await c.generateText('b');
  assert.ok(!('Authorization' in fetch.calls[0].headers));
  assert.notEqual(fetch.calls[0].headers['X-Request-ID'], fetch.calls[1].headers['X-Request-ID']);
});

test('body: snake_case fields, defaults from the client, and options of 0 are sent', async () => {
  const fetch = recordingFetch();
  const c = new TektonLLMClient({ componentId: 'comp', rhetorUrl: 'http://rhetor.test', providerId: 'anthropic', fetch });
  await c.generateText('prompt text', {
    systemPrompt: 'sys', modelId: 'claude-x', contextId: 'ctx',
    temperature: 0, maxTokens: 0, topP: 0.0, top_k: 0, presencePenalty: 0, frequency_penalty: 0,
    stopSequences: ['END'], fallbackProvider: 'openai', fallbackModel: 'gpt-4o',
    options: { seed: 0 },
  });
  assert.deepEqual(fetch.calls[0].body, {
    messages: [{ role: 'user', content: 'prompt text' }],
    context_id: 'ctx',
    component_id: 'comp',
    streaming: false,
    provider_id: 'anthropic',
    model_id: 'claude-x',
    system_prompt: 'sys',
    options: {
      temperature: 0, max_tokens: 0, top_p: 0, top_k: 0, presence_penalty: 0, frequency_penalty: 0,
      stop: ['END'], fallback_provider: 'openai', fallback_model: 'gpt-4o', seed: 0,
    },
  });
});

test('context_id defaults to the component id; no options means an empty options object', async () => {
  const fetch = recordingFetch();
  await new TektonLLMClient({ componentId: 'comp', rhetorUrl: 'http://rhetor.test', fetch })
    .generateChatResponse([{ role: 'user', content: 'x', name: 'ann' }]);
  assert.deepEqual(fetch.calls[0].body, {
    messages: [{ role: 'user', content: 'x', name: 'ann' }],
    context_id: 'comp', component_id: 'comp', streaming: false, options: {},
  });
});

test('streaming requests go to /chat/stream with streaming: true and accept event streams', async () => {
  const fetch = recordingFetch(() => new Response('data: {"chunk":"a","done":false}\n\ndata: {"chunk":"","done":true}\n\n',
    { headers: { 'Content-Type': 'text/event-stream' } }));
  const c = new TektonLLMClient({ rhetorUrl: 'http://rhetor.test/', fetch });
  const r = await c.streamText('p', () => {}, { temperature: 0 });
  assert.equal(r.content, 'a');
  const [call] = fetch.calls;
  assert.equal(call.url, 'http://rhetor.test/api/v1/chat/stream');
  assert.equal(call.body.streaming, true);
  assert.deepEqual(call.body.options, { temperature: 0 });
  assert.equal(call.headers['Accept'], 'text/event-stream');
});

test('GET calls: health and providers, with the same identifying headers', async () => {
  const fetch = recordingFetch(() => new Response('{"status":"healthy","providers":{}}'));
  const c = new TektonLLMClient({ componentId: 'g', rhetorUrl: 'http://rhetor.test/p', authToken: 't', fetch });
  await c.health();
  await c.getProviders();
  assert.deepEqual(fetch.calls.map((x) => [x.method, x.url]), [
    ['GET', 'http://rhetor.test/p/api/v1/health'], ['GET', 'http://rhetor.test/p/api/v1/providers'],
  ]);
  for (const call of fetch.calls) {
    assert.equal(call.body, undefined);
    assert.equal(call.headers['X-Tekton-Component'], 'g');
    assert.equal(call.headers['Authorization'], 'Bearer t');
  }
});

test('answers are read in snake_case or camelCase', async () => {
  const fetch = recordingFetch(() => new Response(JSON.stringify({
    content: 'c', model: 'm', provider: 'p', finishReason: 'stop', contextId: 'cx', fallback: true,
    usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 }, timestamp: '2025-01-01T00:00:00Z',
  })));
  const r = await new TektonLLMClient({ rhetorUrl: 'http://rhetor.test', fetch }).generateText('x');
  assert.equal(r.finishReason, 'stop');
  assert.equal(r.contextId, 'cx');
  assert.equal(r.fallback, true);
  assert.equal(r.usage.totalTokens, 3);
  assert.equal(r.usage.total_tokens, 3);
  assert.equal(r.timestamp, '2025-01-01T00:00:00Z');
});
