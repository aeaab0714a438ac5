"""The one training loop of tsseq: any model, windows or one long series, callbacks.

:class:`Trainer` knows nothing about the model beyond its calling convention:

* window training (:meth:`Trainer.fit`): ``model(inputs (B, L, C)) -> predictions``
  shaped like the targets (``(B, H, C)``);
* stateful training by truncated BPTT (:meth:`Trainer.fit_sequence`, see
  :mod:`tsseq.engine.tbptt`): ``model(inputs (B, k, C), state) -> (outputs, state)``.

One step is: forward (under autocast when mixed precision is on), loss, backward
(scaled for fp16), gradient norm and clipping, optimizer step. Nothing in a step reads
a value back from the device: losses and gradient norms are copied into device buffers
and read once per epoch (:class:`~tsseq.engine.history.StepRecorder`). Each epoch ends
with validation (eval mode, no gradients), the learning-rate schedule, early stopping,
a checkpoint (:mod:`tsseq.engine.checkpoint`) and the callbacks' ``on_epoch_end``.

Launched by ``torchrun`` with several processes, the same loop trains data-parallel
(:mod:`tsseq.engine.distributed`): ``DistributedDataParallel`` averages the gradients,
each process takes its share of every global batch and of the validation windows, the
recorded losses are all-reduced, and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from tsseq.data.windows import BatchSampler
from tsseq.engine import distributed
from tsseq.engine.callbacks import Callback, ProgressBar
from tsseq.engine.checkpoint import CheckpointJob, TrainingState, remove_temporaries
from tsseq.engine.config import TrainingConfig
from tsseq.engine.device import (
    autocast_factory,
    intra_op_threads,
    resolve_threads,
    batch_to_device,
    model_dtype,
    resolve_device,
    resolve_precision,
    tensor_to_device,
    to_device,
)
from tsseq.engine.history import StepRecorder, TrainingHistory, diverged, exploded
from tsseq.engine.losses import config_loss
from tsseq.engine.optim import clip_gradients, current_lr, make_optimizer, make_scheduler, step_scheduler
from tsseq.engine.tbptt import Streams, chunk_outputs, make_streams
from tsseq.engine.trimming import kept_windows, trimmed_windows, window_losses
from tsseq.base import check_positive_int
from tsseq.errors import ConfigError, DataError
from tsseq.progress import should_show

Loss = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


class Trainer:
    """Trains a ``torch.nn.Module`` as ``config`` says, calling ``callbacks`` along the way.

    Parameters
    ----------
    config : TrainingConfig, optional
        Default ``TrainingConfig()``.
    callbacks : sequence of Callback
        Called in this order (a :class:`ProgressBar` is appended when ``config.progress``
        asks for one).

    Attributes
    ----------
    device : torch.device
        Where training runs (resolved from ``config.device``).
    state : TrainingState
        The current (or last) run's model, optimizer, scheduler, GradScaler, history,
        best weights (what a checkpoint saves); ``model``, ``optimizer``, ``scheduler``,
        ``scaler`` and ``history`` are shortcuts to them.
    should_stop : bool
        Set it (from a callback) to end training after the current epoch.
    batches_per_epoch : int
        Optimizer steps per epoch of the current run.
    distributed : DistributedContext or None
        This process's place among those training together (:mod:`tsseq.engine.distributed`),
        None when it trains alone; read from the launcher's environment, the process
        group starts on the first ``fit``.
    rank, world_size, is_main_process
        Rank of this process (0 alone), number of processes (1 alone), and whether it is
        rank 0: callbacks that write (tracking, files) do so only where
        ``trainer.is_main_process``.
    """

    def __init__(self, config: TrainingConfig | None = None, callbacks: Sequence[Callback] = ()) -> None:
        self.config = TrainingConfig() if config is None else config
        if not isinstance(self.config, TrainingConfig):
            raise ConfigError(f"Trainer expects a TrainingConfig. Got {type(config).__name__} instead.")
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise ConfigError(f"Callbacks must subclass tsseq.engine.Callback. Got {type(callback).__name__}.")
        if should_show(self.config.progress):  # True, or None and stderr is a terminal
            self.callbacks.append(ProgressBar())
        self.distributed = distributed.launch_context(self.config.distributed)
        device = self.config.device
        if self.distributed is not None:
            device = distributed.process_device(device, self.distributed)
        self.device = resolve_device(device)
        self.autocast_dtype = resolve_precision(self.config.precision, self.device)
        self._autocast = autocast_factory(self.device, self.autocast_dtype)
        self.state: TrainingState | None = None
        self._forward: Callable | None = None  # the model's forward, compiled when config.compile
        self._train_forward: Callable | None = None  # _forward, or the DistributedDataParallel model's
        self.should_stop = False
        self.batches_per_epoch = 0
        self.threads = resolve_threads(self.config.threads)

    @property
    def rank(self) -> int:
        return 0 if self.distributed is None else self.distributed.rank

    @property
    def world_size(self) -> int:
        return 1 if self.distributed is None else self.distributed.world_size

    @property
    def is_main_process(self) -> bool:
        return self.rank == 0

    @property
    def model(self) -> torch.nn.Module | None:
        return None if self.state is None else self.state.model

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        return None if self.state is None else self.state.optimizer

    @property
    def scheduler(self) -> Any:
        return None if self.state is None else self.state.scheduler

    @property
    def scaler(self) -> torch.amp.GradScaler | None:
        return None if self.state is None else self.state.scaler

    @property
    def history(self) -> TrainingHistory:
        return TrainingHistory() if self.state is None else self.state.history

    # ----------------------------------------------------------------------------- public
    def fit(
        self,
        model: torch.nn.Module,
        train: Any,
        validation: Any = None,
        *,
        loss: Loss | None = None,
        resume: bool = False,
        pass_targets: bool = False,
    ) -> TrainingHistory:
        """Train ``model`` in place on the windows of ``train``; validate on ``validation``.

        Parameters
        ----------
        model : torch.nn.Module
            Maps inputs ``(B, L, C)`` to predictions shaped like the targets. Moved to
            :attr:`device`.
        train, validation
            Window sources: anything with ``__len__`` and ``gather(indices (B,)) ->
            (inputs, targets, input_mask, target_mask)`` (``Windows``,
            ``MultiSeriesWindows``); dataclass sources are moved to the device once
            (:func:`~tsseq.engine.device.to_device`). The input mask is not given to
            the model (unobserved inputs are 0).
        loss : callable, optional
            ``loss(predictions, targets, target_mask) -> scalar``; default
            :func:`~tsseq.engine.losses.masked_mse` (observed targets only).
        resume : bool
            Continue from ``config.checkpoint_dir/last.pt`` (exactly where it stopped).
        pass_targets : bool
            Call ``model(inputs, targets)`` in training steps, for teacher forcing;
            validation and :meth:`predict` still call ``model(inputs)``.

        With ``config.trim_fraction`` > 0 or "auto" each epoch after the warm-up leaves out the
        training windows of highest loss (:mod:`tsseq.engine.trimming`); they are listed
        in ``history.trimmed``.

        Returns
        -------
        TrainingHistory
        """
        loss = config_loss(self.config) if loss is None else loss
        train, validation = _check_source(train, "train"), _optional_source(validation)
        self._check_distributed(self.config.batch_size, "batch_size")
        self._prepare(model, "windows", resume)
        dtype = model_dtype(model)
        train = to_device(train, self.device, dtype)
        validation = None if validation is None else to_device(validation, self.device, dtype)
        shards = self._batches(len(train))
        kept: torch.Tensor | None = None  # the windows of this epoch when trimming (tsseq.engine.trimming)
        forward = self._train_forward

        def begin_epoch(epoch: int) -> None:
            nonlocal shards, kept
            if epoch < self.config.trim_warmup_epochs:
                self.history.trimmed.append([])
                return
            dropped = self._trimmed_windows(model, train, loss)
            kept = kept_windows(len(train), dropped)
            shards = self._batches(len(kept))
            self.history.trimmed.append(dropped.tolist())

        def train_epoch(recorder: StepRecorder) -> None:
            for indices, windows, loss_scale in shards:
                if kept is not None:
                    indices = kept[indices]
                inputs, targets, _, target_mask = batch_to_device(train.gather(indices), self.device, dtype)
                with self._autocast():
                    predictions = forward(inputs, targets) if pass_targets else forward(inputs)
                self._step(loss(predictions, targets, target_mask), recorder, windows, loss_scale)

        validate = None if validation is None else (lambda: self._validation_loss(model, validation, loss))
        return self._train(train_epoch, validate, begin_epoch if self.config.trims else None)

    def _batches(self, n_windows: int) -> distributed.ShardedBatches:
        """This process's batches of an epoch over ``n_windows`` windows; sets :attr:`batches_per_epoch`."""
        config = self.config
        sampler = BatchSampler(
            n_windows,
            config.batch_size,
            shuffle=config.shuffle,
            drop_last=config.drop_last,
            generator=self.state.sampler_generator,
        )
        if len(sampler) == 0:
            raise DataError(
                f"drop_last=True with {n_windows} training windows and batch_size={config.batch_size} leaves no "
                "batch; lower the batch size or set drop_last=False."
            )
        self.batches_per_epoch = len(sampler)
        return distributed.ShardedBatches(sampler, self.rank, self.world_size)  # alone: the sampler's batches

    def _trimmed_windows(self, model: torch.nn.Module, source: Any, loss: Loss) -> torch.Tensor:
        """The training windows that sit the next epoch out (:mod:`tsseq.engine.trimming`), highest loss first."""
        dtype, parts = model_dtype(model), []
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), _evaluating(model):  # draws nothing from the run's streams
            for batch in torch.arange(len(source)).split(self.config.evaluation_batch_size):
                inputs, targets, _, target_mask = batch_to_device(source.gather(batch), self.device, dtype)
                with self._autocast():
                    predictions = self._forward_of(model)(inputs)
                parts.append(window_losses(loss, predictions, targets, target_mask))
        losses = torch.cat(parts)
        dropped = trimmed_windows(losses, self.config.trim_fraction)
        if self.distributed is not None:  # float noise must not give processes different batches (or counts)
            padded = torch.full((len(losses),), -1, dtype=dropped.dtype)
            padded[: len(dropped)] = dropped
            padded = distributed.main_process_copy(padded, self.device)
            dropped = padded[padded >= 0]
        return dropped

    def fit_sequence(
        self,
        model: torch.nn.Module,
        series: np.ndarray | torch.Tensor,
        validation_series: np.ndarray | torch.Tensor | None = None,
        *,
        streams: int = 32,
        validation_streams: int = 1,
        loss: Loss | None = None,
        resume: bool = False,
    ) -> TrainingHistory:
        """Train a stateful ``model`` on one long series by truncated BPTT (:mod:`tsseq.engine.tbptt`).

        Parameters
        ----------
        model : torch.nn.Module
            ``forward(inputs (B, k, C), state) -> (outputs (B, k, C_out), state)``, state
            None at the start; ``C_out`` must match the targets' ``C`` for the default loss.
        series, validation_series
            ``(T, C)`` or ``(T,)`` arrays (NaN = unobserved); the model learns to predict
            ``x_{t+1}`` from ``x_0 .. x_t``.
        streams, validation_streams : int
            ``B``: parallel contiguous streams the series is cut into. The validation
            loss is that of a stateful run over its streams (default one: each step
            sees all the history before it).
        loss, resume
            As in :meth:`fit`. The steps of an epoch are the ``ceil(S / k1)`` chunks.
        """
        if self.config.trims:
            raise ConfigError(
                "The 'trim_fraction' parameter drops whole training windows, and truncated BPTT (fit_sequence) "
                f"trains on contiguous streams, which have none. Got trim_fraction={self.config.trim_fraction!r}; "
                "set it to 0, or train on windows (Trainer.fit)."
            )
        loss = config_loss(self.config) if loss is None else loss
        train = make_streams(series, streams)
        validation = None if validation_series is None else make_streams(validation_series, validation_streams)
        self._check_distributed(streams, "streams")
        self._prepare(model, "sequence", resume)
        if self.distributed is not None:
            train = distributed.shard_streams(train, self.distributed)
        dtype = model_dtype(model)
        train: Streams = to_device(train, self.device, dtype)
        validation = None if validation is None else to_device(validation, self.device, dtype)
        chunk_steps, backprop_steps = self.config.tbptt_steps, self.config.backprop_steps
        self.batches_per_epoch = math.ceil(train.steps / chunk_steps)

        def train_epoch(recorder: StepRecorder) -> None:
            chunks = chunk_outputs(self._train_forward, train, chunk_steps, backprop_steps, self._autocast)
            for outputs, targets, mask in chunks:
                self._step(loss(outputs, targets, mask), recorder, targets.shape[0] * targets.shape[1])

        def validate() -> float:
            value = self._evaluate_streams(model, validation, loss)
            if self.distributed is None:
                return value
            # Every process runs all validation streams; averaging makes them agree to the last bit.
            return distributed.global_mean(torch.tensor(value, device=self.device), 1)

        return self._train(train_epoch, None if validation is None else validate)

    def evaluate(self, model: torch.nn.Module, source: Any, *, loss: Loss | None = None) -> float:
        """Mean loss of ``model`` over every window of ``source`` (eval mode, no gradients).

        Each batch's loss is weighted by its number of windows, so the default loss gives
        the mean squared error over all windows (over observed targets within a batch).
        """
        loss = config_loss(self.config) if loss is None else loss
        model = model.to(self.device)
        source = to_device(_check_source(source, "source"), self.device, model_dtype(model))
        with intra_op_threads(self.threads):
            return float(self._summed_loss(model, source, torch.arange(len(source)), loss)) / len(source)

    def _validation_loss(self, model: torch.nn.Module, source: Any, loss: Loss) -> float:
        """:meth:`evaluate` during ``fit``; distributed, each process takes a share and the sums are all-reduced."""
        if self.distributed is None:
            return float(self._summed_loss(model, source, torch.arange(len(source)), loss)) / len(source)
        indices = distributed.share_of(len(source), self.distributed)
        return distributed.global_mean(self._summed_loss(model, source, indices, loss), len(indices))

    def _summed_loss(self, model: torch.nn.Module, source: Any, indices: torch.Tensor, loss: Loss) -> torch.Tensor:
        """Sum over the windows ``indices`` of ``source`` of each batch's loss times its windows (on the device)."""
        dtype = model_dtype(model)
        total = torch.zeros((), device=self.device)
        with _evaluating(model):
            for batch in indices.split(self.config.evaluation_batch_size):
                inputs, targets, _, target_mask = batch_to_device(source.gather(batch), self.device, dtype)
                with self._autocast():
                    predictions = self._forward_of(model)(inputs)
                total += loss(predictions, targets, target_mask) * len(batch)
        return total

    def predict(
        self, model: torch.nn.Module, data: Any, *, batch_size: int | None = None
    ) -> torch.Tensor:
        """Predictions of ``model`` for every window of a source, or for inputs ``(N, L, C)``.

        Batched (``batch_size``, default ``config.evaluation_batch_size``), eval mode, no
        gradients; returns a CPU tensor ``(N, ...)`` (float32 after mixed precision).
        """
        batch_size = check_positive_int(
            self.config.evaluation_batch_size if batch_size is None else batch_size, "batch_size"
        )
        model = model.to(self.device)
        dtype = model_dtype(model)
        if isinstance(data, (torch.Tensor, np.ndarray)):
            inputs = torch.as_tensor(data)
            if inputs.ndim != 3:
                raise DataError(
                    f"predict expects inputs of shape (N, L, C) or a window source. Got shape {tuple(inputs.shape)}."
                )
            batches = inputs.split(batch_size)  # views
        else:
            source = to_device(_check_source(data, "data"), self.device, dtype)
            batches = (source.gather(indices)[0] for indices in torch.arange(len(source)).split(batch_size))
        outputs = []
        with _evaluating(model), intra_op_threads(self.threads):
            for batch in batches:
                with self._autocast():
                    outputs.append(self._forward_of(model)(tensor_to_device(batch, self.device, dtype)))
        predictions = torch.cat(outputs)
        return predictions.float().cpu() if predictions.dtype in (torch.float16, torch.bfloat16) else predictions.cpu()

    # ----------------------------------------------------------------------------- the loop
    def _prepare(self, model: torch.nn.Module, mode: str, resume: bool) -> None:
        """Seed, place the model, build optimizer, schedule and scaler; load the checkpoint to resume."""
        if not isinstance(model, torch.nn.Module):
            raise ConfigError(f"The model must be a torch.nn.Module. Got {type(model).__name__} instead.")
        config = self.config
        if self.distributed is not None:
            distributed.init_distributed(distributed.backend_for(self.device))
        generator = torch.Generator()
        if config.seed is None:
            generator.seed()
        else:
            # Dropout and other noise the model draws from torch: its own stream on each process.
            torch.manual_seed(config.seed + self.rank)
            generator.manual_seed(config.seed)  # the batches: the same on every process
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed batch shapes: let cuDNN pick its fastest kernels
        model = model.to(self.device)
        self._forward = torch.compile(model) if config.compile else model
        self._parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
        if not self._parameters:
            raise ConfigError("The model has no trainable parameters (none with requires_grad=True).")
        optimizer = make_optimizer(config, self._parameters, self.device)
        self.state = TrainingState(
            mode=mode,
            config=config,
            model=model,
            optimizer=optimizer,
            scheduler=make_scheduler(config, optimizer),
            scaler=torch.amp.GradScaler(self.device.type, enabled=self.autocast_dtype == torch.float16),
            sampler_generator=generator,
            history=TrainingHistory(),
        )
        self.should_stop = False
        job = next((callback for callback in self.callbacks if isinstance(callback, CheckpointJob)), None)
        if job is not None:
            self.state.job = job.identity
            resume = job.should_resume(config.checkpoint_dir) or resume
        if config.checkpoint_dir is not None and self.is_main_process:
            remove_temporaries(config.checkpoint_dir)
        if resume:
            self.state.restore(config.checkpoint_dir)
        self._train_forward = self._forward
        if self.distributed is not None:  # after the restore: wrapping broadcasts rank 0's weights
            parallel = distributed.data_parallel(model, self.device)
            self._train_forward = torch.compile(parallel) if config.compile else parallel

    def _check_distributed(self, size: int, name: str) -> None:
        """Before the process group starts: settings every process must share to train together."""
        if self.distributed is None:
            return
        if self.config.seed is None:
            raise ConfigError(
                "Distributed training needs TrainingConfig(seed=...): every process draws the same batches from it."
            )
        if size % self.world_size:
            raise ConfigError(
                f"Under distributed training {name!r} is global, split evenly between the {self.world_size} "
                f"processes: it must be a multiple of {self.world_size}. Got {name}={size}."
            )

    def _train(
        self,
        train_epoch: Callable[[StepRecorder], None],
        validate: Callable[[], float] | None,
        begin_epoch: Callable[[int], None] | None = None,
    ) -> TrainingHistory:
        with intra_op_threads(self.threads):
            return self._train_epochs(train_epoch, validate, begin_epoch)

    def _train_epochs(
        self,
        train_epoch: Callable[[StepRecorder], None],
        validate: Callable[[], float] | None,
        begin_epoch: Callable[[int], None] | None,
    ) -> TrainingHistory:
        try:
            self._call("on_train_begin")
            if validate is not None and self.state.epochs_done == 0:
                self.history.untrained_loss = self._untrained_loss(validate)
            for epoch in range(self.state.epochs_done, self.config.epochs):
                if self._stop_requested() or self.history.stopped_early:
                    break
                self._run_epoch(epoch, train_epoch, validate, begin_epoch)
            if self.config.restore_best and self.state.best_model is not None:
                self.model.load_state_dict(self.state.best_model)
            self._call("on_train_end", self.history)
        except BaseException as exception:
            for callback in self.callbacks:
                callback.on_exception(self, exception)
            raise
        finally:
            self._train_forward = None  # a DistributedDataParallel wrapper unhooks from the model when freed
        return self.history

    def _untrained_loss(self, validate: Callable[[], float]) -> float:
        """The validation loss before training: the scale a runaway loss is judged against (:func:`exploded`)."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # leave the run's random streams as they were
            return validate()

    def _stop_requested(self) -> bool:
        """``should_stop`` set here, or distributed on any process (so that all leave the loop together)."""
        if self.distributed is None:
            return self.should_stop
        self.should_stop = distributed.any_process(self.should_stop, self.device)
        return self.should_stop

    def _run_epoch(
        self, epoch: int, train_epoch: Callable[[StepRecorder], None], validate, begin_epoch=None
    ) -> None:
        if begin_epoch is not None:  # choose the epoch's windows (trimming) before anything counts its batches
            begin_epoch(epoch)
        self._call("on_epoch_begin", epoch)
        learning_rate, started = current_lr(self.optimizer), time.perf_counter()
        recorder = StepRecorder(self.batches_per_epoch, self.device, epoch, self.config.epochs)
        # A process that stopped alone on its NaN loss would leave the others waiting in the all-reduce;
        # distributed, the global step losses are checked at the end of the epoch on all processes.
        recorder.check_each_step = recorder.check_each_step and self.distributed is None
        self.model.train()
        train_epoch(recorder)
        if self.distributed is not None:
            recorder.losses, recorder.weights = distributed.global_step_losses(recorder.losses, recorder.weights)
        steps = recorder.finish()
        val_loss = None if validate is None else validate()
        if val_loss is not None and not math.isfinite(val_loss):
            raise diverged(val_loss, epoch, self.config.epochs)
        if epoch == 0 or self.history.untrained_loss is None:  # the first batch's loss is before any step
            self.history.untrained_loss = max(abs(self.history.untrained_loss or 0.0), abs(steps.losses[0]))
        monitored = steps.mean_loss if val_loss is None else val_loss
        runaway = exploded(monitored, self.history, epoch, self.config.epochs, val_loss is not None, learning_rate)
        if runaway is not None:
            raise runaway
        self.history.append_epoch(steps, val_loss, learning_rate, time.perf_counter() - started)
        self._track_best(epoch)
        step_scheduler(self.scheduler, self.history.monitored_loss[-1])
        self.state.epochs_done = epoch + 1
        if self.config.checkpoint_dir is not None and self.is_main_process:
            self.state.save(self.config.checkpoint_dir)
        self._call("on_epoch_end", epoch, self.history.epoch_metrics())

    def _step(self, loss: torch.Tensor, recorder: StepRecorder, weight: int, loss_scale: float = 1.0) -> None:
        """Backward, clip, optimizer step; record loss and pre-clip gradient norm; ``on_batch_end``.

        ``loss_scale`` weighs a process's share of a global batch (:class:`~tsseq.engine.distributed.ShardedBatches`).
        """
        recorder.check(loss)  # on the CPU, stop before a non-finite loss reaches the weights
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss if loss_scale == 1.0 else loss * loss_scale).backward()
        self.scaler.unscale_(self.optimizer)  # true gradients for the norm and clipping (no-op unless fp16)
        grad_norm = clip_gradients(self._parameters, self.config)
        self.scaler.step(self.optimizer)  # skips the step if fp16 gradients overflowed
        self.scaler.update()
        loss = loss.detach()
        recorder.record(loss, grad_norm, weight)
        self._call("on_batch_end", recorder.epoch, len(recorder.weights) - 1, loss)

    def _track_best(self, epoch: int) -> None:
        """Keep the best weights so far; decide early stopping."""
        history, config, state = self.history, self.config, self.state
        monitored = history.monitored_loss[-1]
        if history.best_epoch is None or monitored < history.best_loss - config.min_delta:
            history.best_epoch, state.epochs_without_improvement = epoch, 0
            if config.restore_best:
                state.best_model = {name: value.detach().clone() for name, value in self.model.state_dict().items()}
        else:
            state.epochs_without_improvement += 1
        patience = config.early_stopping_patience
        history.stopped_early = patience is not None and state.epochs_without_improvement >= patience

    def _evaluate_streams(self, model: torch.nn.Module, streams: Streams, loss: Loss) -> float:
        """Mean loss of a stateful run over ``streams`` (eval mode, no gradients)."""
        total, weight = torch.zeros((), device=self.device), 0
        chunk_steps = self.config.tbptt_steps
        with _evaluating(model):
            chunks = chunk_outputs(self._forward_of(model), streams, chunk_steps, chunk_steps, self._autocast)
            for outputs, targets, mask in chunks:
                total += loss(outputs, targets, mask) * (targets.shape[0] * targets.shape[1])
                weight += targets.shape[0] * targets.shape[1]
        return float(total) / weight

    def _forward_of(self, model: torch.nn.Module) -> Callable:
        """The compiled forward of the model being trained, else ``model`` itself."""
        return self._forward if model is self.model and self._forward is not None else model

    def _call(self, hook: str, *arguments: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *arguments)


@contextlib.contextmanager
def _evaluating(model: torch.nn.Module) -> Iterator[None]:
    """``model`` in eval mode without gradients; its training flag is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _check_source(source: Any, name: str) -> Any:
    if not (hasattr(source, "gather") and hasattr(source, "__len__")):
        raise DataError(
            f"The {name!r} data must be a window source with __len__ and gather(indices) (make_windows, "
            f"make_multi_series_windows). Got {type(source).__name__}."
        )
    if len(source) == 0:
        raise DataError(f"The {name!r} data has no windows.")
    return source


def _optional_source(source: Any) -> Any:
    return None if source is None else _check_source(source, "validation")
