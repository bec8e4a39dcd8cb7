"""The LLM backends behind one protocol (`base.LLMBackend`): OpenVINO GenAI for the built-in
models on a CPU, transformers for everything else, an OpenAI-compatible server for
`openai:MODEL`; the built-in models' files (`builtin_models`), their OpenVINO export
(`openvino_export`) and decoding held to the passages' substrings (`constrained`).
`generation.llm.load_llm` picks one."""
