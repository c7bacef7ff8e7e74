/*!
 * tekton-llm-client.js: the browser (and Node) client for Rhetor, Tekton's LLM router.
 * One dependency-free file: <script src> defines the global TektonLLMClient, require() returns it,
 * and tekton-llm-client.mjs re-exports it for ES modules. Wire protocol: docs/protocol.md.
 */
(function (root, factory) {
  if (typeof module === 'object' && module && module.exports) {
    module.exports = factory();
  } else if (typeof define === 'function' && define.amd) {
    define([], factory);
  } else {
    root.TektonLLMClient = factory();
  }
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  var VERSION = '0.3.0';
  var IN_BROWSER = typeof window !== 'undefined' && typeof location !== 'undefined';

  // ---------------------------------------------------------------- errors

  class TektonLLMError extends Error {
    constructor(message, fields) {
      super(message);
      this.name = 'TektonLLMError';
      Object.assign(this, fields || {});
      // docs/protocol.md names it status_code; JS callers reach for .status first.
      if (this.status !== undefined && this.statusCode === undefined) this.statusCode = this.status;
    }
  }
  // Same names as the Python exceptions, so logs read alike on both sides.
  function subclass(name) {
    var C = class extends TektonLLMError {
      constructor(message, fields) { super(message, fields); this.name = name; }
    };
    Object.defineProperty(C, 'name', { value: name });
    return C;
  }
  var InvalidRequestError = subclass('InvalidRequestError');
  var AuthenticationError = subclass('AuthenticationError');
  var TimeoutError = subclass('TimeoutError');
  var RateLimitError = subclass('RateLimitError');
  var ServiceUnavailableError = subclass('ServiceUnavailableError');
  var ConnectionError = subclass('ConnectionError');
  var StreamInterruptedError = subclass('StreamInterruptedError');

  // docs/protocol.md's status table: a copy of the Python package's (exceptions.STATUS_KINDS) for
  // the browser, proven equal to it by tests/test_error_table.py, as is VERSION.
  function errorClassForStatus(status) {
    if (status === 400 || status === 404 || status === 413 || status === 422) return InvalidRequestError;
    if (status === 401 || status === 403) return AuthenticationError;
    if (status === 408 || status === 504) return TimeoutError;
    if (status === 429) return RateLimitError;
    if (status === 500 || status === 502 || status === 503) return ServiceUnavailableError;
    return TektonLLMError;
  }

  // A cancel is the platform's AbortError (a DOMException where one exists), never a timeout.
  function abortError(message, fields) {
    var err;
    if (typeof DOMException === 'function') {
      err = new DOMException(message, 'AbortError');
    } else {
      err = new Error(message);
      err.name = 'AbortError';
    }
    try { Object.assign(err, fields || {}); } catch (_) { /* frozen host object: keep the bare error */ }
    return err;
  }

  // ---------------------------------------------------------------- SSE decoder

  /**
   * Incremental server-sent-events decoder (WHATWG EventSource parsing plus an end-of-stream
   * flush). Feed raw bytes with push(); call end() when the body ends. Linear in the input:
   * each byte is scanned once and each line decoded once.
   */
  class SSEDecoder {
    constructor(onEvent) {
      this.onEvent = onEvent;
      // ignoreBOM keeps a U+FEFF inside the stream; only the one at stream start is dropped (below).
      this._utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
      this._pieces = [];        // bytes of the current, unterminated line
      this._afterCR = false;    // last byte seen was CR: a following LF belongs to the same line end
      this._firstLine = true;
      this._data = [];
      this._hasData = false;
      this._type = '';
      this.lastEventId = null;
    }

    push(bytes) {
      if (typeof bytes === 'string') bytes = new TextEncoder().encode(bytes);
      var start = 0;
      var n = bytes.length;
      for (var i = 0; i < n; i++) {
        var b = bytes[i];
        if (b === 10 && this._afterCR) { // LF completing a CRLF (possibly split across reads)
          this._afterCR = false;
          start = i + 1;
          continue;
        }
        this._afterCR = false;
        if (b === 10 || b === 13) {
          this._pieces.push(bytes.subarray(start, i));
          this._endLine();
          this._afterCR = b === 13;
          start = i + 1;
        }
      }
      // Copy: the caller may reuse its buffer for the next read.
      if (start < n) this._pieces.push(bytes.slice(start));
    }

    end() {
      var total = 0;
      for (var k = 0; k < this._pieces.length; k++) total += this._pieces[k].length;
      if (total > 0) this._endLine();
      this._pieces = [];
      if (this._hasData) this._line('');
    }

    _endLine() {
      var pieces = this._pieces;
      var bytes;
      if (pieces.length === 1) {
        bytes = pieces[0];
      } else {
        var total = 0;
        for (var k = 0; k < pieces.length; k++) total += pieces[k].length;
        bytes = new Uint8Array(total);
        var off = 0;
        for (k = 0; k < pieces.length; k++) { bytes.set(pieces[k], off); off += pieces[k].length; }
      }
      this._pieces = [];
      var line = this._utf8.decode(bytes); // invalid sequences become U+FFFD
      if (this._firstLine) {
        this._firstLine = false;
        if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      }
      this._line(line);
    }

    _line(line) {
      if (line === '') {
        if (this._hasData) {
          var ev = { event: this._type || 'message', data: this._data.join('\n'), id: this.lastEventId };
          this._data = [];
          this._hasData = false;
          this._type = '';
          this.onEvent(ev);
        } else {
          this._type = '';
        }
        return;
      }
      if (line.charCodeAt(0) === 58) return; // ':' comment / keep-alive
      var colon = line.indexOf(':');
      var field = line;
      var value = '';
      if (colon >= 0) {
        field = line.slice(0, colon);
        value = line.slice(colon + 1);
        if (value.charCodeAt(0) === 32) value = value.slice(1);
      }
      if (field === 'data') {
        this._data.push(value);
        this._hasData = true;
      } else if (field === 'event') {
        this._type = value;
      } else if (field === 'id') {
        if (value.indexOf('\u0000') < 0) this.lastEventId = value;
      }
      // 'retry' (reconnection delay) and unknown fields have no effect on a fetch-based stream.
    }
  }

  // ---------------------------------------------------------------- helpers

  function uuid4() {
    var c = typeof crypto !== 'undefined' ? crypto : null;
    if (c && typeof c.randomUUID === 'function') return c.randomUUID();
    // randomUUID exists only in secure contexts; getRandomValues exists everywhere.
    var b = new Uint8Array(16);
    if (c && typeof c.getRandomValues === 'function') c.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  // Resolve rhetorUrl once: relative URLs against the page, then strip query/fragment and the
  // trailing slash so that API paths are APPENDED to any path prefix (/api/llm + /api/v1/chat).
  function resolveBase(rhetorUrl) {
    var raw = rhetorUrl == null ? (IN_BROWSER ? '' : 'http://localhost:8003') : String(rhetorUrl);
    var u;
    if (IN_BROWSER) {
      u = new URL(raw === '' ? '/' : raw, location.href);
    } else {
      try { u = new URL(raw); } catch (_) {
        throw new TypeError('rhetorUrl must be an absolute URL outside a browser, got ' + JSON.stringify(raw));
      }
    }
    u.search = '';
    u.hash = '';
    return u.href.replace(/\/+$/, '');
  }

  function pick(obj, names) {
    if (!obj) return undefined;
    for (var i = 0; i < names.length; i++) {
      if (obj[names[i]] !== undefined && obj[names[i]] !== null) return obj[names[i]];
    }
    return undefined;
  }

  // Generation options: camelCase or snake_case in, snake_case out; 0 / 0.0 / false are values.
  var OPTION_NAMES = [
    ['temperature', 'temperature'],
    ['max_tokens', 'maxTokens'],
    ['stop', 'stopSequences'],
    ['top_p', 'topP'],
    ['top_k', 'topK'],
    ['presence_penalty', 'presencePenalty'],
    ['frequency_penalty', 'frequencyPenalty'],
    ['fallback_provider', 'fallbackProvider'],
    ['fallback_model', 'fallbackModel'],
  ];

  function buildOptions(opts) {
    var out = {};
    var nested = opts.options || {};
    for (var i = 0; i < OPTION_NAMES.length; i++) {
      var snake = OPTION_NAMES[i][0];
      var camel = OPTION_NAMES[i][1];
      var v = pick(opts, [snake, camel]);
      if (v === undefined) v = pick(nested, [snake, camel]);
      if (v !== undefined) out[snake] = v;
    }
    // Anything else in opts.options is passed through untouched (server-specific options).
    for (var k in nested) {
      if (Object.prototype.hasOwnProperty.call(nested, k) && !(k in out) && nested[k] !== undefined) {
        var known = OPTION_NAMES.some(function (p) { return p[1] === k; });
        if (!known) out[k] = nested[k];
      }
    }
    return out;
  }

  function normalizeUsage(u) {
    if (!u || typeof u !== 'object') return null;
    var p = pick(u, ['prompt_tokens', 'promptTokens']);
    var c = pick(u, ['completion_tokens', 'completionTokens']);
    var t = pick(u, ['total_tokens', 'totalTokens']);
    if (t === undefined && p !== undefined && c !== undefined) t = p + c;
    // Both spellings: camelCase for JS code, snake_case for code written against the wire format.
    return {
      promptTokens: p, completionTokens: c, totalTokens: t,
      prompt_tokens: p, completion_tokens: c, total_tokens: t,
    };
  }

  function now() {
    return typeof performance !== 'undefined' && performance.now ? performance.now() : Date.now();
  }

  // The server's own words for a failed request: {"error"}, FastAPI {"detail"}, or the body text.
  function serverMessage(text, status, statusText) {
    var msg = '';
    try {
      var j = JSON.parse(text);
      if (j && typeof j === 'object') {
        var d = j.error !== undefined ? j.error : j.detail !== undefined ? j.detail : j.message;
        if (d && typeof d === 'object' && typeof d.message === 'string') d = d.message;
        if (Array.isArray(d)) {
          d = d.map(function (x) { return x && x.msg ? (x.loc ? x.loc.join('.') + ': ' : '') + x.msg : JSON.stringify(x); }).join('; ');
        }
        if (d !== undefined && d !== null) msg = typeof d === 'string' ? d : JSON.stringify(d);
      }
    } catch (_) {
      msg = String(text || '').trim().slice(0, 500);
    }
    if (!msg) msg = String(text || '').trim().slice(0, 500);
    return msg || statusText || 'HTTP ' + status;
  }

  function parseRetryAfter(value) {
    if (!value) return undefined;
    if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return parseFloat(value);
    var t = Date.parse(value);
    return isNaN(t) ? undefined : Math.max(0, (t - Date.now()) / 1000);
  }

  // ---------------------------------------------------------------- one call's lifetime

  /**
   * Ties together a call's fetch, the caller's AbortSignal and the timeout. Every await of the
   * call goes through guard(), which rejects as soon as the call is cancelled or times out, with
   * the right error: the caller's cancel is an AbortError, the timer's is a TimeoutError.
   */
  class CallScope {
    constructor(signal, timeoutMs, requestId) {
      this.controller = new AbortController();
      this.requestId = requestId;
      this.timeoutMs = timeoutMs;
      this.reason = null;
      this.partial = undefined;
      this._timer = null;
      this._userSignal = signal || null;
      var self = this;
      this._stopped = new Promise(function (_, reject) { self._reject = reject; });
      this._stopped.catch(function () {}); // observed only through guard()
      if (signal) {
        this._onUserAbort = function () { self._stop('abort'); };
        if (signal.aborted) this._stop('abort');
        else signal.addEventListener('abort', this._onUserAbort);
      }
      this.arm();
    }

    // (Re)start the timer: the whole call for non-streaming requests, each gap for streams.
    arm() {
      if (this._timer) clearTimeout(this._timer);
      this._timer = null;
      if (this.reason || !(this.timeoutMs > 0) || !isFinite(this.timeoutMs)) return;
      var self = this;
      this._timer = setTimeout(function () { self._stop('timeout'); }, this.timeoutMs);
    }

    _stop(reason) {
      if (this.reason) return;
      this.reason = reason;
      this._reject(this.error());
      this.controller.abort();
    }

    error() {
      var fields = { requestId: this.requestId };
      if (this.partial !== undefined) fields.partial = this.partial;
      if (this.reason === 'abort') {
        var r = this._userSignal && this._userSignal.reason;
        var msg = r && r.name !== 'AbortError' && r.message ? 'request cancelled: ' + r.message : 'request cancelled';
        if (r !== undefined && r !== null) fields.cause = r;
        return abortError(msg, fields);
      }
      return new TimeoutError('no answer from Rhetor within ' + this.timeoutMs / 1000 + ' s', fields);
    }

    guard(promise) {
      if (this.reason) {
        if (promise && typeof promise.catch === 'function') promise.catch(function () {}); // abandoned
        return Promise.reject(this.error());
      }
      return Promise.race([promise, this._stopped]);
    }

    // A failure while the call was being stopped is the stop itself, not a network error.
    translate(err) {
      if (this.reason) return this.error();
      return err;
    }

    close() {
      if (this._timer) clearTimeout(this._timer);
      this._timer = null;
      if (this._userSignal && this._onUserAbort) this._userSignal.removeEventListener('abort', this._onUserAbort);
    }
  }

  // ---------------------------------------------------------------- the client

  class TektonLLMClient {
    /**
     * @param {object} [options]
     * @param {string} [options.componentId='browser-client'] sent as X-Tekton-Component / component_id
     * @param {string} [options.rhetorUrl] page origin in a browser, http://localhost:8003 elsewhere;
     *   may carry a path prefix (/api/llm) and may be relative to the page
     * @param {string} [options.authToken] sent as Authorization: Bearer
     * @param {number} [options.timeout=30] seconds: whole non-streaming call, and each gap in a stream
     * @param {string} [options.providerId] default provider_id
     * @param {string} [options.modelId] default model_id
     * @param {string} [options.contextId] default context_id (else componentId)
     * @param {object} [options.headers] extra headers on every request
     * @param {Function} [options.fetch] fetch implementation (default: global fetch)
     */
    constructor(options) {
      options = options || {};
      this.componentId = options.componentId || 'browser-client';
      this.rhetorUrl = options.rhetorUrl == null ? (IN_BROWSER ? '' : 'http://localhost:8003') : options.rhetorUrl;
      this.baseUrl = resolveBase(this.rhetorUrl);
      this.authToken = options.authToken || null;
      this.timeout = options.timeout == null ? 30 : Number(options.timeout);
      this.providerId = options.providerId || null;
      this.modelId = options.modelId || null;
      this.contextId = options.contextId || null;
      this.headers = Object.assign({}, options.headers || {});
      this._fetch = options.fetch || null;
      this._inflight = new Map(); // requestId -> AbortController, for cancelRequest()
    }

    url(path) {
      return this.baseUrl + path;
    }

    _headers(requestId, extra, json) {
      var h = {};
      if (json) h['Content-Type'] = 'application/json';
      h['Accept'] = json === 'stream' ? 'text/event-stream' : 'application/json';
      h['X-Tekton-Component'] = this.componentId;
      h['X-Request-ID'] = requestId;
      if (!IN_BROWSER) h['User-Agent'] = 'tekton-llm-client/' + VERSION + ' (js)';
      if (this.authToken) h['Authorization'] = 'Bearer ' + this.authToken;
      Object.assign(h, this.headers, extra || {});
      return h;
    }

    _timeoutMs(opts) {
      var t = opts && opts.timeout != null ? Number(opts.timeout) : this.timeout;
      return t * 1000;
    }

    _body(messages, opts, streaming) {
      var body = {
        messages: messages,
        context_id: pick(opts, ['contextId', 'context_id']) || this.contextId || this.componentId,
        component_id: this.componentId,
        streaming: streaming,
        options: buildOptions(opts),
      };
      var provider = pick(opts, ['providerId', 'provider_id']) || this.providerId;
      var model = pick(opts, ['modelId', 'model_id']) || this.modelId;
      var system = pick(opts, ['systemPrompt', 'system_prompt']);
      if (provider) body.provider_id = provider;
      if (model) body.model_id = model;
      if (system != null) body.system_prompt = system;
      if (opts.sim) body.sim = opts.sim; // simulator knobs, for tests
      return body;
    }

    // fetch + HTTP error mapping; resolves with the 2xx Response.
    async _send(scope, method, path, body, opts, accept) {
      var f = this._fetch || (typeof fetch === 'function' ? fetch : null);
      if (!f) throw new TektonLLMError('no fetch() available in this environment');
      var init = {
        method: method,
        headers: this._headers(scope.requestId, opts.headers, body !== undefined ? accept || true : false),
        signal: scope.controller.signal,
      };
      if (body !== undefined) init.body = JSON.stringify(body);
      var res;
      try {
        if (scope.reason) throw scope.error(); // cancelled before it started: send nothing
        res = await scope.guard(f.call(typeof globalThis !== 'undefined' ? globalThis : undefined, this.url(path), init));
      } catch (err) {
        err = scope.translate(err);
        if (err.name === 'AbortError' || err instanceof TektonLLMError) throw err;
        throw new ConnectionError('cannot reach Rhetor at ' + this.url(path) + ': ' + (err && err.message || err), {
          requestId: scope.requestId, cause: err,
        });
      }
      if (!res.ok) {
        var text = '';
        try { text = await scope.guard(res.text()); } catch (err) {
          err = scope.translate(err);
          if (err.name === 'AbortError' || err instanceof TimeoutError) throw err;
        }
        var Cls = errorClassForStatus(res.status);
        var said = serverMessage(text, res.status, res.statusText);
        var fields = { status: res.status, requestId: scope.requestId, body: text, serverMessage: said };
        if (res.status === 429) fields.retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
        throw new Cls(said + ' (HTTP ' + res.status + ')', fields);
      }
      return res;
    }

    async _json(scope, res) {
      var text;
      try { text = await scope.guard(res.text()); } catch (err) {
        err = scope.translate(err);
        if (err.name === 'AbortError' || err instanceof TektonLLMError) throw err;
        throw new ConnectionError('connection lost while reading the answer: ' + (err && err.message || err), {
          requestId: scope.requestId, cause: err,
        });
      }
      try { return JSON.parse(text); } catch (_) {
        throw new TektonLLMError('Rhetor answered with something that is not JSON: ' + text.slice(0, 200), {
          status: res.status, requestId: scope.requestId, body: text,
        });
      }
    }

    _scope(opts) {
      var requestId = pick(opts, ['requestId', 'request_id']) || uuid4();
      var scope = new CallScope(opts.signal, this._timeoutMs(opts), requestId);
      this._inflight.set(requestId, scope);
      return scope;
    }

    _done(scope) {
      scope.close();
      this._inflight.delete(scope.requestId);
    }

    async _getJSON(path, opts) {
      opts = opts || {};
      var scope = this._scope(opts);
      try {
        var res = await this._send(scope, 'GET', path, undefined, opts);
        return await this._json(scope, res);
      } finally {
        this._done(scope);
      }
    }

    /** GET /api/v1/health: {status, version, providers}. */
    health(opts) { return this._getJSON('/api/v1/health', opts); }

    /** GET /api/v1/providers: {providers, default_provider, default_model}. */
    getProviders(opts) { return this._getJSON('/api/v1/providers', opts); }

    /** One whole answer to a single prompt. */
    generateText(prompt, opts) {
      return this.generateChatResponse([{ role: 'user', content: String(prompt) }], opts);
    }

    /** One whole answer to a conversation: messages = [{role, content, name?}]. */
    async generateChatResponse(messages, opts) {
      opts = opts || {};
      var scope = this._scope(opts);
      var started = now();
      var body = this._body(messages, opts, false);
      try {
        var res = await this._send(scope, 'POST', '/api/v1/chat', body, opts);
        var data = await this._json(scope, res);
        if (data && data.error !== undefined && data.content === undefined) {
          throw new TektonLLMError(String(data.error), { status: res.status, requestId: scope.requestId, code: data.code });
        }
        return this._result(data, body, scope.requestId, now() - started);
      } finally {
        this._done(scope);
      }
    }

    _result(d, body, requestId, latency) {
      d = d || {};
      return {
        content: pick(d, ['content', 'message', 'response']) || '',
        model: pick(d, ['model']) || body.model_id || null,
        provider: pick(d, ['provider']) || body.provider_id || null,
        finishReason: pick(d, ['finish_reason', 'finishReason']) || null,
        usage: normalizeUsage(d.usage),
        contextId: pick(d, ['context_id', 'contextId']) || body.context_id,
        fallback: !!d.fallback,
        timestamp: pick(d, ['timestamp']) || new Date().toISOString(),
        requestId: requestId,
        latency: latency,
      };
    }

    /**
     * Stream the answer to one prompt. onChunk({chunk, done, model, provider, ...}) is called per
     * event (the last one has done: true). Returns a promise of the whole result ({content, ...});
     * see streamChat for errors.
     */
    streamText(prompt, onChunk, opts) {
      return this.streamChat([{ role: 'user', content: String(prompt) }], onChunk, opts);
    }

    /**
     * Stream the answer to a conversation over POST /api/v1/chat/stream (SSE).
     * On failure (HTTP error, {"error"} event, stream cut short, timeout, cancel) onError(err) is
     * called and the returned promise rejects with the same error; err.partial holds the text
     * received so far. Without onError the error is logged with console.error. The returned promise
     * is marked handled, so fire-and-forget callers (migration guide step 9) never see an
     * "unhandled rejection"; `await` still throws. promise.requestId identifies the call.
     */
    streamChat(messages, onChunk, opts) {
      opts = opts || {};
      var scope = this._scope(opts);
      var p = this._stream(scope, messages, onChunk, opts);
      p.catch(function () {});
      p.requestId = scope.requestId;
      return p;
    }

    /** Same as streamChat (the name the earlier client used). */
    streamChatResponse(messages, onChunk, opts) {
      return this.streamChat(messages, onChunk, opts);
    }

    /** Cancel a call in flight by its request id; its promise rejects with AbortError. */
    cancelRequest(requestId) {
      var scope = this._inflight.get(requestId);
      if (!scope) return false;
      scope._stop('abort');
      return true;
    }

    async _stream(scope, messages, onChunk, opts) {
      var self = this;
      var started = now();
      var body = this._body(messages, opts, true);
      var st = {
        text: '', model: body.model_id || null, provider: body.provider_id || null,
        contextId: body.context_id, fallback: false, finishReason: null, usage: null,
        timestamp: null, finished: false,
      };
      var reader = null;
      var deliver = function (ev) {
        if (typeof onChunk === 'function') onChunk(ev);
      };
      var finish = function (extra) {
        st.finished = true;
        var chunk = Object.assign({
          chunk: '', done: true, model: st.model, provider: st.provider, contextId: st.contextId,
          fallback: st.fallback, finishReason: st.finishReason, usage: st.usage,
          timestamp: st.timestamp || new Date().toISOString(), requestId: scope.requestId,
        }, extra || {});
        deliver(chunk);
      };
      var handle = function (data) {
        if (st.finished) return;
        if (data === '[DONE]') { finish(); return; }
        var d;
        try { d = JSON.parse(data); } catch (_) { d = null; }
        if (!d || typeof d !== 'object') {
          // A broken event means a broken server: say so rather than guess what the text was.
          throw new TektonLLMError('Rhetor sent a stream event that is not a JSON object: ' + data.slice(0, 200), {
            code: 'invalid_event', requestId: scope.requestId, partial: st.text,
          });
        }
        if (d.error !== undefined && d.error !== null) {
          throw new TektonLLMError(typeof d.error === 'string' ? d.error : JSON.stringify(d.error), {
            code: d.code, requestId: scope.requestId, partial: st.text,
          });
        }
        var text = pick(d, ['chunk', 'content']);
        text = text == null ? '' : String(text);
        st.model = d.model || st.model;
        st.provider = d.provider || st.provider;
        st.contextId = pick(d, ['context_id', 'contextId', 'context']) || st.contextId;
        if (d.fallback !== undefined) st.fallback = !!d.fallback;
        st.finishReason = pick(d, ['finish_reason', 'finishReason']) || st.finishReason;
        if (d.usage) st.usage = normalizeUsage(d.usage);
        st.timestamp = d.timestamp || st.timestamp;
        st.text += text;
        var ev = {
          chunk: text, done: !!d.done, model: st.model, provider: st.provider, contextId: st.contextId,
          fallback: st.fallback, finishReason: st.finishReason, usage: st.usage,
          timestamp: st.timestamp || new Date().toISOString(), requestId: scope.requestId,
        };
        if (d.done) { st.finished = true; }
        deliver(ev);
      };
      var decoder = new SSEDecoder(function (ev) { handle(ev.data); });

      try {
        var res = await this._send(scope, 'POST', '/api/v1/chat/stream', body, opts, 'stream');
        var ctype = (res.headers.get('Content-Type') || '').toLowerCase();
        if (ctype.indexOf('application/json') >= 0) {
          // A server that answered the whole thing at once: hand it over as one chunk plus done.
          var whole = await this._json(scope, res);
          if (whole && whole.error !== undefined && whole.content === undefined) {
            throw new TektonLLMError(String(whole.error), { status: res.status, requestId: scope.requestId });
          }
          handle(JSON.stringify({
            chunk: pick(whole, ['content', 'message', 'response']) || '', done: false,
            model: whole.model, provider: whole.provider, context_id: pick(whole, ['context_id', 'contextId']),
            fallback: whole.fallback, timestamp: whole.timestamp,
          }));
          handle(JSON.stringify({ chunk: '', done: true, finish_reason: pick(whole, ['finish_reason', 'finishReason']), usage: whole.usage }));
        } else {
          if (!res.body || typeof res.body.getReader !== 'function') {
            throw new TektonLLMError('this environment cannot read a streaming response body', { requestId: scope.requestId });
          }
          reader = res.body.getReader();
          for (;;) {
            scope.arm(); // the timeout now measures the gap until the next bytes
            var r;
            try {
              r = await scope.guard(reader.read());
            } catch (err) {
              scope.partial = st.text;
              err = scope.translate(err);
              if (err.name === 'AbortError' || err instanceof TektonLLMError) throw err;
              throw new StreamInterruptedError('stream broken after ' + st.text.length + ' characters: ' + (err && err.message || err), {
                requestId: scope.requestId, partial: st.text, cause: err,
              });
            }
            if (r.done) { decoder.end(); break; }
            decoder.push(r.value);
            if (st.finished) break;
          }
          if (!st.finished) {
            throw new StreamInterruptedError('stream ended before the answer was complete (no done event)', {
              requestId: scope.requestId, partial: st.text,
            });
          }
        }
        var result = this._result({
          content: st.text, model: st.model, provider: st.provider, finish_reason: st.finishReason,
          usage: st.usage, context_id: st.contextId, fallback: st.fallback, timestamp: st.timestamp,
        }, body, scope.requestId, now() - started);
        this._done(scope);
        if (reader) reader.cancel().catch(function () {}); // releases the connection if the server lingers
        if (typeof opts.onComplete === 'function') opts.onComplete(result);
        return result;
      } catch (err) {
        scope.partial = st.text;
        if (scope.reason) err = scope.error(); // e.g. onChunk threw after the cancel: report the cancel
        if (err && typeof err === 'object' && !('partial' in err)) {
          try { err.partial = st.text; } catch (_) { /* not extensible */ }
        }
        this._done(scope);
        scope.controller.abort(); // stop the body: we will not read it any further
        if (reader) reader.cancel().catch(function () {});
        if (typeof opts.onError === 'function') {
          try { opts.onError(err); } catch (e2) { if (typeof console !== 'undefined') console.error(e2); }
        } else if (typeof console !== 'undefined') {
          console.error('TektonLLMClient stream failed:', err);
        }
        throw err;
      }
    }
  }

  TektonLLMClient.VERSION = VERSION;
  TektonLLMClient.errorClassForStatus = errorClassForStatus;
  TektonLLMClient.SSEDecoder = SSEDecoder;
  TektonLLMClient.TektonLLMError = TektonLLMError;
  TektonLLMClient.InvalidRequestError = InvalidRequestError;
  TektonLLMClient.AuthenticationError = AuthenticationError;
  TektonLLMClient.TimeoutError = TimeoutError;
  TektonLLMClient.RateLimitError = RateLimitError;
  TektonLLMClient.ServiceUnavailableError = ServiceUnavailableError;
  TektonLLMClient.ConnectionError = ConnectionError;
  TektonLLMClient.StreamInterruptedError = StreamInterruptedError;
  TektonLLMClient.TektonLLMClient = TektonLLMClient; // so `const { TektonLLMClient } = require(...)` works too
  return TektonLLMClient;
});
