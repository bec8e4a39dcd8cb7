"""Explained answers: "why" and "how" questions get a few sentences, each cited (`form` picks the
answer's form; `extract` takes the documents' own sentences, chosen with the trained `scorer`;
`writer` prompts the LLM and streams the sentences that `support` verifies)."""
