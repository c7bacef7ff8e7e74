// The one implementation file loads three ways: require() (UMD), import (the .mjs entry) and a
// classic <script> (global TektonLLMClient); and a browser resolves rhetorUrl against the page.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { pathToFileURL } = require('node:url');

const JS_DIR = path.join(__dirname, '..', '..', 'python', 'tekton_llm_client', 'static', 'js');
const UMD = path.join(JS_DIR, 'tekton-llm-client.js');
const ESM = path.join(JS_DIR, 'tekton-llm-client.mjs');

test('require() returns the class, also as a named property', () => {
  const C = require(UMD);
  assert.equal(typeof C, 'function');
  assert.equal(C.name, 'TektonLLMClient');
  assert.equal(C.TektonLLMClient, C);
  assert.equal(new C({ rhetorUrl: 'http://h:1' }).url('/api/v1/chat'), 'http://h:1/api/v1/chat');
});

test('import gives the same class as require(), default and named exports', async () => {
  const mod = await import(pathToFileURL(ESM).href);
  const C = require(UMD);
  assert.equal(mod.default, C);
  assert.equal(mod.TektonLLMClient, C);
  assert.equal(mod.SSEDecoder, C.SSEDecoder);
  assert.equal(mod.TimeoutError, C.TimeoutError);
  assert.equal(mod.VERSION, C.VERSION);
});

// A page: window, location and the web globals, no module system.
function pageContext(href) {
  const ctx = {
    URL, TextDecoder, TextEncoder, AbortController, DOMException, setTimeout, clearTimeout, console,
    location: new URL(href),
  };
  ctx.window = ctx;
  return vm.createContext(ctx);
}

test('a classic <script> defines the global TektonLLMClient', () => {
  const ctx = pageContext('http://example.test:8080/app/index.html');
  vm.runInContext(fs.readFileSync(UMD, 'utf8'), ctx, { filename: 'tekton-llm-client.js' });
  assert.equal(typeof ctx.TektonLLMClient, 'function');
  assert.equal(vm.runInContext('new TektonLLMClient({componentId: "c"}).componentId', ctx), 'c');
});

test('in a page, rhetorUrl defaults to the origin and relative URLs resolve against the page', () => {
  const ctx = pageContext('http://example.test:8080/app/index.html?q=1');
  vm.runInContext(fs.readFileSync(UMD, 'utf8'), ctx);
  const base = (opts) => vm.runInContext(`new TektonLLMClient(${JSON.stringify(opts)}).url('/api/v1/chat')`, ctx);
  assert.equal(base({}), 'http://example.test:8080/api/v1/chat');
  // The guide's step 9: the prefix is kept; the old client produced a path nothing served.
  assert.equal(base({ rhetorUrl: '/api/llm' }), 'http://example.test:8080/api/llm/api/v1/chat');
  assert.equal(base({ rhetorUrl: '/api/llm/' }), 'http://example.test:8080/api/llm/api/v1/chat');
  assert.equal(base({ rhetorUrl: 'rhetor' }), 'http://example.test:8080/app/rhetor/api/v1/chat');
  assert.equal(base({ rhetorUrl: 'https://other.test/x/y' }), 'https://other.test/x/y/api/v1/chat');
});

test('outside a browser the default is http://localhost:8003 and a relative URL is refused', () => {
  const C = require(UMD);
  assert.equal(new C().url('/api/v1/health'), 'http://localhost:8003/api/v1/health');
  assert.equal(new C({ rhetorUrl: 'http://h/api/llm?x=1#y' }).url('/api/v1/chat'), 'http://h/api/llm/api/v1/chat');
  assert.throws(() => new C({ rhetorUrl: '/api/llm' }), TypeError);
});

test('the request id is a UUID v4', async () => {
  const C = require(UMD);
  let seen;
  const client = new C({
    rhetorUrl: 'http://h',
    fetch: async (url, init) => { seen = init.headers; return new Response('{"status":"healthy"}', { status: 200 }); },
  });
  await client.health();
  assert.match(seen['X-Request-ID'], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
