// ES-module entry: the implementation lives only in tekton-llm-client.js (UMD).
// Node loads that file as CommonJS (its default export is module.exports); a browser loads it as a
// module with no exports, where it defines globalThis.TektonLLMClient instead. No bundler needed.
import * as umd from './tekton-llm-client.js';

const TektonLLMClient = (umd && umd.default) || globalThis.TektonLLMClient;

export default TektonLLMClient;
export { TektonLLMClient };
export const {
  SSEDecoder,
  TektonLLMError,
  InvalidRequestError,
  AuthenticationError,
  TimeoutError,
  RateLimitError,
  ServiceUnavailableError,
  ConnectionError,
  StreamInterruptedError,
  VERSION,
} = TektonLLMClient;
