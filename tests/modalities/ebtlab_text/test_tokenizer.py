from transformers import PreTrainedTokenizerFast

from ebtlab_text.tokenizer import END_OF_TEXT, PADDING, tokenizer_from_json, tokenizer_to_json, train_tokenizer

DOCUMENTS = ["And God said, Let there be light: and there was light."] * 20 + ["Naïve café — ünïcode ✓"]


def test_round_trip_any_text():
    tokenizer = train_tokenizer(DOCUMENTS, vocab_size=300)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    for text in DOCUMENTS[-2:] + ["unseen words: zebra quux 42 \t\n"]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids, "the tokenizer encoded text to an empty list"
        assert tokenizer.decode(ids) == text


def test_vocabulary_size_and_special_tokens():
    tokenizer = train_tokenizer(DOCUMENTS, vocab_size=300)
    assert len(tokenizer) <= 300
    assert tokenizer.eos_token == END_OF_TEXT
    assert tokenizer.pad_token == PADDING
    assert tokenizer.eos_token_id != tokenizer.pad_token_id
    assert " light" in tokenizer.get_vocab() or "Ġlight" in tokenizer.get_vocab()


def test_json_round_trip():
    tokenizer = train_tokenizer(DOCUMENTS, vocab_size=300)
    again = tokenizer_from_json(tokenizer_to_json(tokenizer))
    text = "Let there be light."
    assert again(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert again.pad_token_id == tokenizer.pad_token_id
