"""Value tokens, the token language model with its cache, and the decoders (beam search against brute force)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from tsseq.errors import ConfigError, DataError
from tsseq.nn import decoding
from tsseq.nn.tokens import CachedStep, TokenLanguageModel, ValueTokenizer, next_token_loss


# ----------------------------------------------------------------------------- tokenizer
def test_round_trip_is_within_half_a_bin():
    tokenizer = ValueTokenizer(n_bins=101, limit=5.0)
    scale = torch.tensor([[0.5], [3.0], [40.0]], dtype=torch.float64)
    values = (torch.rand(3, 1000, dtype=torch.float64) * 2 - 1) * 5.0 * scale  # |x / s| <= limit
    back = tokenizer.detokenize(tokenizer.tokenize(values, scale), scale)
    assert ((back - values).abs() <= tokenizer.width * scale / 2 + 1e-12).all()
    assert tokenizer.width == pytest.approx(0.1)


def test_centres_are_uniform_and_an_odd_vocabulary_returns_zero_exactly():
    tokenizer = ValueTokenizer(n_bins=7, limit=3.0)
    assert torch.allclose(tokenizer.centres(torch.float64), torch.arange(-3.0, 4.0, dtype=torch.float64))
    scale = torch.tensor([[2.0]])
    ids = tokenizer.tokenize(torch.tensor([[0.0, 1.9, 2.1, -100.0, 100.0, math.inf, -math.inf]]), scale)
    assert ids.tolist() == [[3, 4, 4, 0, 6, 6, 0]]  # nearest centre (of 2 * c_k); beyond the limit: the edge bins
    assert tokenizer.detokenize(ids, scale)[0, 0] == 0.0


def test_scale_is_the_mean_absolute_value_of_the_observed_context():
    tokenizer = ValueTokenizer(n_bins=11)
    context = torch.tensor([[1.0, -3.0, math.nan, 2.0], [0.0, 0.0, 0.0, 0.0], [math.nan] * 4])
    assert tokenizer.scale(context).flatten().tolist() == [2.0, 1.0, 1.0]  # zeros and nothing observed: 1


def test_tokens_are_invariant_to_the_scale_of_the_series():
    tokenizer = ValueTokenizer(n_bins=255, limit=10.0)
    values = torch.randn(4, 30, dtype=torch.float64).abs() + 0.5
    ids = tokenizer.tokenize(values, tokenizer.scale(values[:, :20]))
    scaled = values * 1234.5
    assert torch.equal(ids, tokenizer.tokenize(scaled, tokenizer.scale(scaled[:, :20])))


def test_unobserved_values_are_pad_and_come_back_as_nan():
    tokenizer = ValueTokenizer(n_bins=9)
    ids = tokenizer.tokenize(torch.tensor([[1.0, math.nan, -1.0]]), torch.ones(1, 1))
    assert ids[0, 1] == tokenizer.pad_id == 9 and ids[0, 0] != tokenizer.pad_id
    assert torch.isnan(tokenizer.detokenize(ids, torch.ones(1, 1))[0, 1])


@pytest.mark.parametrize("n_bins, limit", [(1, 15.0), (11, 0.0), (11, math.inf), (11, True)])
def test_tokenizer_parameters_are_checked(n_bins, limit):
    with pytest.raises(ConfigError):
        ValueTokenizer(n_bins, limit)


def test_next_token_loss_leaves_out_pad_targets():
    logits = torch.randn(2, 3, 5, requires_grad=True)
    targets = torch.tensor([[0, 5, 2], [5, 5, 4]])
    expected = torch.nn.functional.cross_entropy(logits[[0, 0, 1], [0, 2, 2]], torch.tensor([0, 2, 4]))
    loss = next_token_loss(logits, targets, pad_id=5)
    assert torch.allclose(loss, expected)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    assert next_token_loss(logits, torch.full((2, 3), 5), pad_id=5) == 0


# ----------------------------------------------------------------------------- language model
def _model(backbone: str = "transformer", norm_first: bool = True, n_bins: int = 13) -> TokenLanguageModel:
    torch.manual_seed(0)
    model = TokenLanguageModel(n_bins, 12, backbone=backbone, d_model=8, n_heads=2, n_layers=2, norm_first=norm_first)
    return model.double().eval()


MODELS = [("transformer", True), ("transformer", False), ("gru", True)]
MODEL_IDS = ["transformer-preLN", "transformer-postLN", "gru"]


def test_encode_is_channel_independent_with_the_context_scale():
    model = _model()
    values = torch.tensor([[[1.0, 10.0], [3.0, 30.0], [100.0, 1000.0]]], dtype=torch.float64)  # (1, 3, 2)
    ids, scale = model.encode(values, context_length=2)
    assert ids.shape == (2, 3) and scale.flatten().tolist() == [2.0, 20.0]  # rows b C + c
    assert torch.equal(ids[0], ids[1])  # channel 2 is channel 1 times 10
    assert ids[0, 2] == model.tokenizer.n_bins - 1  # 50 context scales: beyond the limit


@pytest.mark.parametrize("backbone, norm_first", MODELS, ids=MODEL_IDS)
def test_logits_are_causal(backbone, norm_first):
    model = _model(backbone, norm_first)
    ids = torch.randint(0, 14, (3, 10))
    changed = ids.clone()
    changed[:, 6:] = torch.randint(0, 14, (3, 4))
    before, after = model(ids), model(changed)
    assert before.shape == (3, 10, 13)
    assert torch.equal(before[:, :6], after[:, :6])


@pytest.mark.parametrize("backbone, norm_first", MODELS, ids=MODEL_IDS)
def test_cached_steps_equal_the_full_forward_pass(backbone, norm_first):
    model = _model(backbone, norm_first)
    step = CachedStep(model)
    ids = torch.randint(0, 14, (4, 12))
    for length in range(3, 13):  # the first call fills the cache, the others run one token
        full = torch.log_softmax(model(ids[:, :length])[:, -1], dim=-1)
        assert torch.allclose(step(ids[:, :length]), full, atol=1e-12)
    parents = torch.tensor([2, 2, 0])
    step.reorder(parents)  # then a prefix that does not extend the cached one: recomputed from scratch
    assert torch.allclose(step(ids[parents, :9]), torch.log_softmax(model(ids[parents, :9])[:, -1], -1), atol=1e-12)


def test_cached_step_after_reorder_extends_the_kept_rows():
    model = _model()
    step, ids = CachedStep(model), torch.randint(0, 13, (3, 6))
    step(ids[:, :5])
    parents = torch.tensor([1, 1, 2, 0])
    step.reorder(parents)
    assert step._tokens.shape == (4, 5)
    expected = torch.log_softmax(model(ids[parents])[:, -1], dim=-1)
    assert torch.allclose(step(ids[parents]), expected, atol=1e-12)


def test_model_checks_its_inputs():
    model = _model()
    with pytest.raises(DataError, match="max_tokens"):
        model(torch.zeros(1, 13, dtype=torch.long))
    with pytest.raises(DataError, match="dtype long"):
        model(torch.zeros(1, 3))
    with pytest.raises(ConfigError, match="backbone"):
        TokenLanguageModel(5, 4, backbone="lstm")


# ----------------------------------------------------------------------------- decoding
class PrefixTable:
    """A toy ``step``: fixed random log-probabilities for every distinct prefix (all of it, not its end)."""

    def __init__(self, vocabulary: int, longest: int, seed: int = 0, independent: bool = False) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.vocabulary, self.independent = vocabulary, independent
        self.offsets = [sum(vocabulary**k for k in range(1, length)) for length in range(1, longest + 2)]
        rows = self.offsets[-1]
        logits = torch.randn(rows, vocabulary, generator=generator, dtype=torch.float64) * 2
        self.table = torch.log_softmax(logits, dim=-1)
        self.calls = 0

    def row(self, prefix: tuple[int, ...]) -> int:
        if self.independent:
            return len(prefix) - 1  # depends on the position only
        code = sum(token * self.vocabulary**power for power, token in enumerate(reversed(prefix)))
        return self.offsets[len(prefix) - 1] + code

    def __call__(self, prefix: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.table[[self.row(tuple(row.tolist())) for row in prefix]]

    def path_log_prob(self, start: tuple[int, ...], path: tuple[int, ...]) -> float:
        total, prefix = 0.0, start
        for token in path:
            total += float(self.table[self.row(prefix), token])
            prefix += (token,)
        return total


def brute_force(table: PrefixTable, start: tuple[int, ...], horizon: int, k: int):
    every_path = itertools.product(range(table.vocabulary), repeat=horizon)
    scored = [(table.path_log_prob(start, path), path) for path in every_path]
    scored.sort(key=lambda item: -item[0])
    return [path for _, path in scored[:k]], [score for score, _ in scored[:k]]


def reference_beam(table: PrefixTable, start: tuple[int, ...], horizon: int, k: int):
    """Beam search written plainly: extend every survivor by every token, keep the k best."""
    beams = [((), 0.0)]
    for _ in range(horizon):
        extended = [
            (path + (token,), score + float(table.table[table.row(start + path), token]))
            for path, score in beams
            for token in range(table.vocabulary)
        ]
        beams = sorted(extended, key=lambda item: -item[1])[:k]
    return [path for path, _ in beams], [score for _, score in beams]


STARTS = torch.tensor([[0], [1]])  # two series decoded at once


@pytest.mark.parametrize("vocabulary, horizon", [(3, 3), (4, 3), (3, 4)])
def test_beam_search_finds_the_k_most_probable_paths_when_nothing_is_pruned_early(vocabulary, horizon):
    table = PrefixTable(vocabulary, horizon + 1)
    for width in (vocabulary ** (horizon - 1), vocabulary ** (horizon - 1) + 2, vocabulary**horizon):
        paths, log_probs = decoding.beam_search(table, STARTS, horizon, width)
        assert paths.shape == (2, width, horizon) and log_probs.shape == (2, width)
        for b, start in enumerate(STARTS.tolist()):
            expected_paths, expected_scores = brute_force(table, tuple(start), horizon, width)
            assert [tuple(path) for path in paths[b].tolist()] == expected_paths
            assert torch.allclose(log_probs[b], torch.tensor(expected_scores, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("vocabulary, horizon, width", [(3, 4, 2), (4, 3, 3), (3, 3, 5), (4, 4, 7)])
def test_narrow_beams_prune_exactly_as_the_definition_says(vocabulary, horizon, width):
    table = PrefixTable(vocabulary, horizon + 1, seed=width)
    paths, log_probs = decoding.beam_search(table, STARTS, horizon, width)
    for b, start in enumerate(STARTS.tolist()):
        expected_paths, expected_scores = reference_beam(table, tuple(start), horizon, width)
        assert [tuple(path) for path in paths[b].tolist()] == expected_paths
        assert torch.allclose(log_probs[b], torch.tensor(expected_scores, dtype=torch.float64), atol=1e-12)
        for path, score in zip(paths[b].tolist(), log_probs[b].tolist()):  # the scores are the paths' log-probabilities
            assert score == pytest.approx(table.path_log_prob(tuple(start), tuple(path)), abs=1e-12)
        assert (log_probs[b][:-1] >= log_probs[b][1:]).all()


def test_beam_search_is_exact_at_any_width_when_steps_are_independent():
    table = PrefixTable(4, 5, independent=True)
    paths, log_probs = decoding.beam_search(table, STARTS, 4, 3)
    expected_paths, expected_scores = brute_force(table, (0,), 4, 3)
    assert [tuple(path) for path in paths[0].tolist()] == expected_paths
    assert torch.allclose(log_probs[0], torch.tensor(expected_scores, dtype=torch.float64), atol=1e-12)


def test_greedy_is_beam_search_of_width_one():
    table = PrefixTable(4, 5, seed=3)
    paths, log_probs = decoding.greedy(table, STARTS, 4)
    beam_paths, beam_log_probs = decoding.beam_search(table, STARTS, 4, 1)
    assert torch.equal(paths, beam_paths[:, 0]) and torch.allclose(log_probs, beam_log_probs[:, 0], atol=1e-12)


def test_beam_search_refuses_more_beams_than_paths():
    with pytest.raises(ConfigError, match="distinct paths"):
        decoding.beam_search(PrefixTable(3, 3), STARTS, 2, 10)


def test_sampling_shapes_and_seeds():
    table = PrefixTable(4, 5)

    def draw(seed: int) -> torch.Tensor:
        return decoding.sample(table, STARTS, 4, 6, generator=torch.Generator().manual_seed(seed))

    paths = draw(0)
    assert paths.shape == (2, 6, 4) and paths.dtype == torch.long and ((paths >= 0) & (paths < 4)).all()
    assert torch.equal(paths, draw(0)) and not torch.equal(paths, draw(1))


@pytest.mark.parametrize("options", [{"temperature": 1e-4}, {"temperature": 0.0}, {"top_k": 1}])
def test_sampling_cold_or_top_1_is_greedy(options):
    table = PrefixTable(4, 5, seed=5)
    greedy_paths, _ = decoding.greedy(table, STARTS, 4)
    paths = decoding.sample(table, STARTS, 4, 20, generator=torch.Generator().manual_seed(0), **options)
    assert torch.equal(paths, greedy_paths[:, None].expand(-1, 20, -1))


def test_sampling_draws_from_the_distribution_and_top_k_cuts_the_tail():
    table = PrefixTable(3, 2, seed=1)
    probabilities = table.table[table.row((0,))].exp()
    first = decoding.sample(table, STARTS[:1], 1, 20000, generator=torch.Generator().manual_seed(0))[0, :, 0]
    frequencies = torch.bincount(first, minlength=3).double() / 20000
    assert torch.allclose(frequencies, probabilities, atol=0.015)
    kept = decoding.sample(table, STARTS[:1], 1, 2000, top_k=2, generator=torch.Generator().manual_seed(0))
    assert int(probabilities.argmin()) not in kept.unique().tolist()
    hot = decoding.sample(table, STARTS[:1], 1, 20000, temperature=100.0, generator=torch.Generator().manual_seed(0))
    uniform = torch.full((3,), 1 / 3.0, dtype=torch.float64)
    assert torch.allclose(torch.bincount(hot.flatten(), minlength=3).double() / 20000, uniform, atol=0.015)


@pytest.mark.parametrize("backbone", ["transformer", "gru"])
def test_the_cache_changes_no_decoded_path(backbone):
    model = _model(backbone)
    prefix = torch.randint(0, 13, (3, 6))

    def plain(ids):
        return torch.log_softmax(model(ids)[:, -1], dim=-1)

    cached_paths, cached_scores = decoding.beam_search(CachedStep(model), prefix, 5, 4)
    paths, scores = decoding.beam_search(plain, prefix, 5, 4)
    assert torch.equal(cached_paths, paths) and torch.allclose(cached_scores, scores, atol=1e-10)
    cached_draw = decoding.sample(CachedStep(model), prefix, 5, 8, generator=torch.Generator().manual_seed(7))
    assert torch.equal(cached_draw, decoding.sample(plain, prefix, 5, 8, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(decoding.greedy(CachedStep(model), prefix, 5)[0], decoding.greedy(plain, prefix, 5)[0])


def test_decoders_check_their_arguments():
    table = PrefixTable(3, 3)
    with pytest.raises(DataError, match="long tensor"):
        decoding.greedy(table, torch.zeros(2, 1), 2)
    with pytest.raises(ConfigError, match="temperature"):
        decoding.sample(table, STARTS, 2, temperature=-1.0)
    with pytest.raises(ConfigError, match="width"):
        decoding.beam_search(table, STARTS, 2, 0)
    with pytest.raises(DataError, match=r"\(B, V\)"):
        decoding.greedy(lambda prefix: torch.zeros(5), STARTS, 2)
