"""Search spaces: one function per model family, overridable parameter by parameter.

A space maps a parameter name to a :class:`~tsseq.tuning.config.ParameterSpace`. A
name is a constructor argument of the estimator (``hidden_size``) or, for the neural
estimators, ``training.<field>`` of its :class:`~tsseq.engine.TrainingConfig`
(``training.learning_rate``). The family functions below list the knobs a family
shares; a model gets those of them it has (SegRNN has no ``bidirectional``, say). A
parameter the job pins in ``model.params`` (``hidden_size: 16``, ``training:
{batch_size: 32}`` pins ``training.batch_size``) is left out of the family space: a
pinned value is never searched. A job's ``search_space`` then replaces a family entry,
adds one, or drops one with ``null``; every name it gives must be a parameter of the
model, else a ConfigError names it, and it may not give a range for a pinned
parameter (which value would win is ambiguous), though ``null`` for one is fine.

Families (by where the estimator class lives): ``recurrent`` (rnn, lstm, gru, mut1-3,
segrnn: :mod:`tsseq.estimators.rnn`), ``seq2seq``, ``transformer`` (the estimators of
``tsseq.estimators.transformer*``), ``autoregressive`` (``ar``). Other models have no
family space: their job file declares one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from tsseq import registry
from tsseq.errors import ConfigError, closest_match
from tsseq.tuning.config import ParameterSpace

TRAINING_PREFIX = "training."
Space = dict[str, ParameterSpace]


def _float(low: float, high: float, *, log: bool = False) -> ParameterSpace:
    return ParameterSpace("float", low, high, log=log)


def _int(low: int, high: int, *, log: bool = False) -> ParameterSpace:
    return ParameterSpace("int", low, high, log=log)


def _categorical(*choices: Any) -> ParameterSpace:
    return ParameterSpace("categorical", choices=list(choices))


def _optimizer_space() -> Space:
    """What every neural family searches of its training: step size, batch size, L2 penalty."""
    return {
        "training.learning_rate": _float(1e-4, 1e-2, log=True),
        "training.batch_size": _categorical(32, 64, 128),
        "training.weight_decay": _float(1e-6, 1e-3, log=True),
    }


def recurrent_space() -> Space:
    """RNN, LSTM, GRU, MUT1-3 and SegRNN: width, depth, dropout between layers."""
    return {
        "hidden_size": _int(16, 256, log=True),
        "num_layers": _int(1, 3),
        "dropout": _float(0.0, 0.5),
        **_optimizer_space(),
    }


def seq2seq_space() -> Space:
    """Encoder-decoder with attention: width, depth, attention kind, teacher forcing."""
    return {
        "hidden_size": _int(16, 256, log=True),
        "num_layers": _int(1, 2),
        "attention": _categorical("bahdanau", "luong"),
        "teacher_forcing_ratio": _float(0.0, 1.0),
        "dropout": _float(0.0, 0.3),
        **_optimizer_space(),
    }


def transformer_space() -> Space:
    """Transformers: model width (a multiple of every head count), heads, depth, dropout."""
    return {
        "hidden_size": _categorical(32, 64, 128),
        "n_heads": _categorical(2, 4),
        "num_layers": _int(1, 3),
        "num_encoder_layers": _int(1, 3),
        "num_decoder_layers": _int(1, 2),
        "dropout": _float(0.0, 0.3),
        **_optimizer_space(),
    }


def autoregressive_space() -> Space:
    """AR by least squares: the largest order the information criterion may select, and the criterion."""
    return {
        "max_order": _int(1, 96, log=True),
        "criterion": _categorical("aic", "bic", "hqic"),
    }


FAMILIES: dict[str, Callable[[], Space]] = {
    "recurrent": recurrent_space,
    "seq2seq": seq2seq_space,
    "transformer": transformer_space,
    "autoregressive": autoregressive_space,
}


def family(model: str) -> str | None:
    """The family of registered model ``model``, None when it has no family space."""
    cls = registry.get(model)
    module = cls.__module__
    if module == "tsseq.estimators.rnn":
        return "recurrent"
    if module == "tsseq.estimators.seq2seq":
        return "seq2seq"
    if module.startswith("tsseq.estimators.transformer"):
        return "transformer"
    if module == "tsseq.baselines" and cls.__name__ == "AR":
        return "autoregressive"
    return None


def searchable(model: str) -> set[str]:
    """Every name a space of ``model`` may use: its parameters, and ``training.<field>`` if it trains."""
    from tsseq.engine import TrainingConfig

    names = set(registry.parameters(model))
    if "training" in names:
        names |= {TRAINING_PREFIX + f.name for f in dataclasses.fields(TrainingConfig)}
    return names - {"training"}


def family_space(model: str) -> Space:
    """The space of ``model``'s family, restricted to the knobs the model has (``{}``: no family)."""
    allowed = searchable(model)
    name = family(model)
    return {key: value for key, value in FAMILIES[name]().items() if key in allowed} if name else {}


def pinned_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters ``model.params`` pins, by space name: ``{"hidden_size": 16, "training.batch_size": 32}``.

    A ``training`` mapping pins each field it gives; a ``TrainingConfig`` object pins the
    fields it sets away from their defaults (its other fields stay searchable). A None
    value pins nothing: it leaves the model's default, as ``null`` does elsewhere.
    """
    from tsseq.engine import TrainingConfig

    pinned = {key: value for key, value in params.items() if key != "training" and value is not None}
    training = params.get("training")
    if isinstance(training, TrainingConfig):
        default = TrainingConfig()
        fields = {f.name: getattr(training, f.name) for f in dataclasses.fields(training)}
        training = {key: value for key, value in fields.items() if value != getattr(default, key)}
    if isinstance(training, Mapping):
        pinned.update((TRAINING_PREFIX + str(key), value) for key, value in training.items() if value is not None)
    return pinned


def study_space(config: Any) -> Space:
    """The search space of a study job (a :class:`~tsseq.tuning.config.StudyConfig`): its model's, less what
    ``model.params`` pins, with the job's ``search_space``."""
    return search_space(config.model.name, config.search_space, pinned_parameters(config.model.params))


def search_space(
    model: str,
    overrides: Mapping[str, ParameterSpace | None] | None = None,
    pinned: Mapping[str, Any] | None = None,
) -> Space:
    """The space of ``model``: its family's (the knobs it has) less the ``pinned`` parameters, updated by ``overrides``.

    An override replaces or adds a parameter; ``None`` drops one. Raises a ConfigError
    naming an override that is not a parameter of the model, one that gives a range
    for a pinned parameter (:func:`pinned_parameters`), and when nothing is left.
    """
    allowed = searchable(model)
    pinned = pinned or {}
    space = {key: value for key, value in family_space(model).items() if key not in pinned}
    for key, value in (overrides or {}).items():
        if key not in allowed:
            raise ConfigError(
                f"search_space.{key}: {model!r} has no parameter {key!r}.{closest_match(key, allowed)} "
                f"Searchable: {', '.join(sorted(allowed))}."
            )
        if value is None:
            space.pop(key, None)
        elif key in pinned:
            raise ConfigError(  # training.<field> is also the key path inside model.params
                f"search_space.{key} and model.params.{key} both set {key!r} (a range, and the value "
                f"{pinned[key]!r}): which one holds is ambiguous. To search it, remove it from model.params; "
                f"to keep {pinned[key]!r}, remove search_space.{key} (or set it to null)."
            )
        else:
            space[key] = value.check(key)
    if not space:
        raise ConfigError(
            f"Model {model!r} has no search space left: its family is {family(model) or 'none'}"
            f"{' and model.params pins the rest' if pinned and family_space(model) else ''}; declare the parameters "
            "to search in the job's search_space, e.g. {season_length: {type: categorical, choices: [1, 24]}}."
        )
    return space


def suggest(trial: Any, space: Space) -> dict[str, Any]:
    """Draw every parameter of ``space`` from an Optuna trial: ``{name: value}``."""
    params = {}
    for name, spec in space.items():
        if spec.type == "categorical":
            params[name] = trial.suggest_categorical(name, spec.choices)
        elif spec.type == "int":
            step = 1 if spec.step is None else int(spec.step)
            params[name] = trial.suggest_int(name, int(spec.low), int(spec.high), step=step, log=spec.log)
        else:
            params[name] = trial.suggest_float(name, spec.low, spec.high, step=spec.step, log=spec.log)
    return params


def configure(estimator: Any, params: Mapping[str, Any]) -> Any:
    """Set ``params`` (space names) on ``estimator`` with ``set_params``; returns it.

    ``training.<field>`` is the nested parameter ``training__<field>`` of the neural
    estimators (:meth:`~tsseq.estimators.NeuralForecaster.set_params`).
    """
    def parameter(key: str) -> str:
        return "training__" + key[len(TRAINING_PREFIX) :] if key.startswith(TRAINING_PREFIX) else key

    return estimator.set_params(**{parameter(key): value for key, value in params.items()})
