"""The HTTP API of `ragqa serve` (docs/architecture.md, "The HTTP API").

| module | job |
|---|---|
| `server.py` | the FastAPI app and its routes |
| `state.py` | what one server holds: settings, served indexes, keys, the LLM, the queue |
| `chat.py` | OpenAI chat completions, whole and streamed, with the `ragqa` extra field |
| `documents.py` | multipart uploads, checked and ingested |
| `queue.py` | one generation at a time on one thread, a bounded queue, cancellation |
| `auth.py` | hashed API keys, each limited to indexes and to read or read-write |
| `schemas.py` | request bodies |
| `errors.py` | every error as one JSON object |
| `metrics.py` | Prometheus metrics |
"""
