"""Explained answers: "why" and "how" questions get a few written sentences, each checked
against the window it cites before it is shown (`form` picks the answer's form, `support`
checks a sentence, `writer` prompts the LLM and streams the verified sentences)."""
