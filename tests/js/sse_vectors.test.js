// The shared SSE vectors (tests/sse_vectors.json) through the JS decoder: as recorded, re-split one
// byte per read, and in one single read. Rust and Python decoders run the same file.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { SSEDecoder } = require('../../python/tekton_llm_client/static/js/tekton-llm-client.js');

const { vectors } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'sse_vectors.json'), 'utf8'));
const enc = new TextEncoder();

function reads(v) {
  if (v.chunks_hex) return v.chunks_hex.map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
  return v.chunks.map((c) => enc.encode(c));
}

function decode(chunks) {
  const out = [];
  const d = new SSEDecoder((ev) => out.push(ev));
  for (const c of chunks) d.push(c);
  d.end();
  return out;
}

function concat(chunks) {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) { all.set(c, off); off += c.length; }
  return all;
}

test('the vector file is well formed', () => {
  assert.ok(vectors.length >= 30);
  assert.equal(new Set(vectors.map((v) => v.name)).size, vectors.length);
});

for (const v of vectors) {
  test(`vector ${v.name}: as recorded`, () => {
    assert.deepEqual(decode(reads(v)), v.events);
  });
  test(`vector ${v.name}: one byte per read`, () => {
    const all = concat(reads(v));
    assert.deepEqual(decode(Array.from(all, (b) => Uint8Array.of(b))), v.events);
  });
  test(`vector ${v.name}: one read`, () => {
    assert.deepEqual(decode([concat(reads(v))]), v.events);
  });
}

test('the decoder copies a partial line: a reused read buffer does not corrupt it', () => {
  const out = [];
  const d = new SSEDecoder((ev) => out.push(ev));
  const buf = new Uint8Array(64);
  const feed = (s) => { const b = enc.encode(s); buf.set(b); d.push(buf.subarray(0, b.length)); };
  feed('data: hel');
  feed('lo\n\n');
  d.end();
  assert.deepEqual(out, [{ event: 'message', data: 'hello', id: null }]);
});

test('the decoder is linear: one long line in many small reads', () => {
  // 4 MB in 1-KB reads; a quadratic re-scan of the pending line would take minutes, not this.
  const out = [];
  const d = new SSEDecoder((ev) => out.push(ev));
  const piece = enc.encode('x'.repeat(1024));
  d.push(enc.encode('data: '));
  for (let i = 0; i < 4096; i++) d.push(piece);
  d.push(enc.encode('\n\n'));
  d.end();
  assert.equal(out.length, 1);
  assert.equal(out[0].data.length, 4096 * 1024);
});
