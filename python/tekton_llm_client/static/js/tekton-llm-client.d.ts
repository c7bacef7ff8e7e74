// Types for tekton-llm-client.js (the Rhetor client for browsers and Node). Hand-written.

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  name?: string;
}

export interface TektonLLMClientOptions {
  /** Sent as X-Tekton-Component and component_id. Default 'browser-client'. */
  componentId?: string;
  /**
   * Rhetor's base URL. Default: the page origin in a browser, 'http://localhost:8003' elsewhere.
   * May carry a path prefix ('/api/llm', 'https://host/api/llm'): API paths are appended to it.
   * A relative URL resolves against the page (location.href).
   */
  rhetorUrl?: string;
  /** Sent as `Authorization: Bearer <authToken>`. */
  authToken?: string;
  /** Seconds. Bounds a whole non-streaming call and each gap in a stream. Default 30; 0 = none. */
  timeout?: number;
  providerId?: string;
  modelId?: string;
  /** Default context_id; else componentId. */
  contextId?: string;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** fetch implementation; default the global fetch. */
  fetch?: typeof fetch;
}

/** Per-call options. camelCase and snake_case spellings are both accepted. 0 is sent, not dropped. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Seconds; overrides the client's timeout for this call. */
  timeout?: number;
  /** Extra headers for this call (e.g. simulator knobs `X-Sim-Chunk-Delay-Ms`). */
  headers?: Record<string, string>;
  /** X-Request-ID to send; default a fresh UUID v4. */
  requestId?: string;
}

export interface GenerationOptions extends CallOptions {
  systemPrompt?: string;
  providerId?: string;
  modelId?: string;
  contextId?: string;
  temperature?: number;
  maxTokens?: number;
  /** Alias: stopSequences. */
  stop?: string[];
  stopSequences?: string[];
  topP?: number;
  topK?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  fallbackProvider?: string;
  fallbackModel?: string;
  /** Passed through into the request's "options" object. */
  options?: Record<string, unknown>;
  /** Simulator knobs, sent as the body's "sim" object (tests only). */
  sim?: Record<string, unknown>;
  [snakeCase: string]: unknown;
}

export interface StreamOptions extends GenerationOptions {
  /** Called once with the whole result when the stream completes. */
  onComplete?: (result: CompletionResponse) => void;
  /** Called once on failure. Without it the error is logged with console.error. */
  onError?: (error: Error & { partial?: string }) => void;
}

export interface Usage {
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

export interface CompletionResponse {
  content: string;
  model: string | null;
  provider: string | null;
  finishReason: string | null;
  usage: Usage | null;
  contextId: string;
  /** True when Rhetor answered with the fallback provider/model. */
  fallback: boolean;
  timestamp: string;
  /** The X-Request-ID this client sent. */
  requestId: string;
  /** Milliseconds from the call to the complete answer. */
  latency: number;
}

export interface StreamingChunk {
  chunk: string;
  /** True on the last chunk only (its `chunk` is usually ''). */
  done: boolean;
  model: string | null;
  provider: string | null;
  contextId: string;
  fallback: boolean;
  finishReason: string | null;
  usage: Usage | null;
  timestamp: string;
  requestId: string;
}

export interface StreamPromise extends Promise<CompletionResponse> {
  /** The call's X-Request-ID, usable with cancelRequest(). */
  requestId: string;
}

export interface HealthResponse {
  status: 'healthy' | 'degraded' | string;
  version?: string;
  providers?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface ModelInfo {
  id: string;
  name: string;
  context_length?: number;
}

export interface ProviderInfo {
  name: string;
  available: boolean;
  models: ModelInfo[];
}

export interface ProvidersResponse {
  providers: Record<string, ProviderInfo>;
  default_provider: string;
  default_model: string;
}

export interface SSEEvent {
  event: string;
  data: string;
  /** The last event id seen so far, or null if none. */
  id: string | null;
}

/** Incremental SSE decoder (WHATWG EventSource rules plus an end-of-stream flush). */
export declare class SSEDecoder {
  constructor(onEvent: (event: SSEEvent) => void);
  lastEventId: string | null;
  push(bytes: Uint8Array | string): void;
  end(): void;
}

export interface ErrorFields {
  /** HTTP status, when the error came from an HTTP answer. */
  status?: number;
  statusCode?: number;
  requestId?: string;
  /** Error code from an {"error", "code"} event or body. */
  code?: string;
  /** Text received before a stream failed. */
  partial?: string;
  /** Raw body of a failed HTTP answer. */
  body?: string;
  /** The server's message from that body ({"error"}, FastAPI {"detail"} or the text). */
  serverMessage?: string;
  /** Seconds, from Retry-After on a 429. */
  retryAfter?: number;
  cause?: unknown;
}

export declare class TektonLLMError extends Error implements ErrorFields {
  constructor(message: string, fields?: ErrorFields);
  status?: number;
  statusCode?: number;
  requestId?: string;
  code?: string;
  partial?: string;
  body?: string;
  serverMessage?: string;
  retryAfter?: number;
}
/** HTTP 400, 404, 413, 422. */
export declare class InvalidRequestError extends TektonLLMError {}
/** HTTP 401, 403. */
export declare class AuthenticationError extends TektonLLMError {}
/** The client's timeout (name 'TimeoutError'), or HTTP 408 / 504. A cancel is never this. */
export declare class TimeoutError extends TektonLLMError {}
/** HTTP 429. */
export declare class RateLimitError extends TektonLLMError {}
/** HTTP 500, 502, 503. */
export declare class ServiceUnavailableError extends TektonLLMError {}
/** Rhetor unreachable (fetch failed). */
export declare class ConnectionError extends TektonLLMError {}
/** A stream that ended or broke before its done event; `partial` holds the text so far. */
export declare class StreamInterruptedError extends TektonLLMError {}

export declare class TektonLLMClient {
  constructor(options?: TektonLLMClientOptions);
  readonly componentId: string;
  readonly rhetorUrl: string;
  /** rhetorUrl resolved to an absolute URL without a trailing slash. */
  readonly baseUrl: string;
  authToken: string | null;
  timeout: number;
  providerId: string | null;
  modelId: string | null;
  contextId: string | null;
  headers: Record<string, string>;

  /** baseUrl + path. */
  url(path: string): string;
  health(options?: CallOptions): Promise<HealthResponse>;
  getProviders(options?: CallOptions): Promise<ProvidersResponse>;
  generateText(prompt: string, options?: GenerationOptions): Promise<CompletionResponse>;
  generateChatResponse(messages: ChatMessage[], options?: GenerationOptions): Promise<CompletionResponse>;
  /**
   * Streams over POST /api/v1/chat/stream. The promise settles when the stream ends; a cancel
   * rejects with an AbortError, a timeout with TimeoutError. The promise is pre-marked handled, so
   * not awaiting it never causes an unhandled rejection.
   */
  streamText(prompt: string, onChunk: (chunk: StreamingChunk) => void, options?: StreamOptions): StreamPromise;
  streamChat(messages: ChatMessage[], onChunk: (chunk: StreamingChunk) => void, options?: StreamOptions): StreamPromise;
  /** Alias of streamChat (the earlier client's name). */
  streamChatResponse(messages: ChatMessage[], onChunk: (chunk: StreamingChunk) => void, options?: StreamOptions): StreamPromise;
  /** Cancels a call in flight; its promise rejects with AbortError. False if no such call. */
  cancelRequest(requestId: string): boolean;

  static readonly VERSION: string;
  /** The error class an HTTP error status maps to (TektonLLMError for an unmapped one). */
  static errorClassForStatus(status: number): typeof TektonLLMError;
  static readonly SSEDecoder: typeof SSEDecoder;
  static readonly TektonLLMError: typeof TektonLLMError;
  static readonly InvalidRequestError: typeof InvalidRequestError;
  static readonly AuthenticationError: typeof AuthenticationError;
  static readonly TimeoutError: typeof TimeoutError;
  static readonly RateLimitError: typeof RateLimitError;
  static readonly ServiceUnavailableError: typeof ServiceUnavailableError;
  static readonly ConnectionError: typeof ConnectionError;
  static readonly StreamInterruptedError: typeof StreamInterruptedError;
  static readonly TektonLLMClient: typeof TektonLLMClient;
}

export declare const VERSION: string;
export default TektonLLMClient;

declare global {
  /** Defined by `<script src="tekton-llm-client.js">`. */
  var TektonLLMClient: typeof import('./tekton-llm-client').TektonLLMClient;
}
