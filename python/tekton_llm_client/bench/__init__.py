"""`tekton-llm bench --url`: a stream-latency benchmark against a real server.

Open loop (`--rate`, constant or Poisson/gamma arrivals, every latency measured from the
request's scheduled send time) or closed loop (`--concurrency`), Rhetor v1 (through this
client's Rust core, which timestamps each chunk when its bytes are read) or OpenAI-compatible
servers. See docs/bench.md.
"""
