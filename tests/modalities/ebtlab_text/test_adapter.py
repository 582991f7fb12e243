import math

import pytest
import torch

from ebtlab.errors import ConfigError
from ebtlab_text import TextDataConfig, TextModality
from ebtlab_text.data import IGNORE_INDEX


def test_candidate_space_softmax_and_projection(kjv_modality):
    space = kjv_modality.build_candidate_space(width=8)
    logits = torch.randn(2, 3, kjv_modality.vocab_size)
    probabilities = space.normalize(logits)
    torch.testing.assert_close(probabilities.sum(dim=-1), torch.ones(2, 3))
    torch.testing.assert_close(space(probabilities), probabilities @ space.projection.weight.T)
    assert space.projection.bias is None


def test_initial_candidates_are_seeded_normal_logits(kjv_modality):
    space = kjv_modality.build_candidate_space(width=8)
    target = torch.zeros(4, 16, dtype=torch.long)
    first = space.initial(target, torch.Generator().manual_seed(0))
    assert first.shape == (4, 16, kjv_modality.vocab_size)
    torch.testing.assert_close(first, space.initial(target, torch.Generator().manual_seed(0)))
    assert abs(first.std().item() - 1.0) < 0.05


def test_loss_ignores_padding(kjv_modality):
    logits = torch.randn(1, 3, kjv_modality.vocab_size)
    target = torch.tensor([[5, IGNORE_INDEX, 7]])
    expected = -(torch.log_softmax(logits[0, 0], -1)[5] + torch.log_softmax(logits[0, 2], -1)[7]) / 2
    torch.testing.assert_close(kjv_modality.loss(logits, target), expected)


def test_accuracy_and_perplexity(kjv_modality):
    logits = torch.zeros(1, 3, kjv_modality.vocab_size)
    logits[0, 0, 5] = logits[0, 1, 9] = logits[0, 2, 7] = 10.0
    target = torch.tensor([[5, 7, IGNORE_INDEX]])
    assert kjv_modality.metrics(logits, target)["accuracy"].item() == pytest.approx(0.5)
    assert kjv_modality.summary_metrics(2.0)["perplexity"] == pytest.approx(math.exp(2.0))


def test_unigram_reference_is_smoothed_training_frequency(kjv_modality):
    probabilities = kjv_modality.unigram_log_probs.exp()
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.all(probabilities > 0)
    target = torch.tensor([[kjv_modality.tokenizer.eos_token_id, IGNORE_INDEX]])
    expected = -kjv_modality.unigram_log_probs[kjv_modality.tokenizer.eos_token_id]
    torch.testing.assert_close(kjv_modality.reference_losses(target)["unigram_loss"], expected)


def test_state_restores_same_tokenizer(kjv_modality):
    restored = TextModality(kjv_modality.config)
    restored.prepare(state=kjv_modality.state_dict())
    text = "Thou shalt love thy neighbour as thyself."
    assert restored.tokenizer(text)["input_ids"] == kjv_modality.tokenizer(text)["input_ids"]


def test_describe_decodes_prediction(kjv_modality):
    ids = kjv_modality.tokenizer("In the beginning")["input_ids"]
    logits = torch.nn.functional.one_hot(torch.tensor(ids), kjv_modality.vocab_size).float()
    text = kjv_modality.describe(torch.tensor(ids), logits)
    assert text.count("In the beginning") == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("vocab_size", 100, "data.vocab_size must be at least 258"), ("context_length", 0, "data.context_length"), ("batch_size", 0, "data.batch_size"), ("num_workers", -1, "data.num_workers")],
)
def test_rejects_impossible_data_config(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TextModality(TextDataConfig(**{field: value}))


def test_unit_losses_average_to_loss(kjv_modality):
    logits = torch.randn(2, 5, kjv_modality.vocab_size)
    target = torch.randint(0, kjv_modality.vocab_size, (2, 5))
    target[1, 3:] = IGNORE_INDEX
    unit_losses = kjv_modality.unit_losses(logits, target)
    assert unit_losses.shape == (2, 5)
    mask = kjv_modality.scored_mask(target)
    torch.testing.assert_close(unit_losses[mask].mean(), kjv_modality.loss(logits, target))
    assert torch.all(unit_losses[~mask] == 0)


def test_prediction_head_gives_logits(kjv_modality):
    head = kjv_modality.build_prediction_head(width=8)
    assert head(torch.randn(2, 3, 8)).shape == (2, 3, kjv_modality.vocab_size)
