"""Hyper-parameter search with Optuna: trials of `fit_and_evaluate` over one prepared dataset.

    result = textclass.tune("configs/rotten_tomatoes.yaml", trials=20)
    result.best_value, result.best_params, result.best_run_dir

The objective is `train.metric` on the validation split, in its own direction (F1 maximised,
loss minimised), or its mean over the held-out folds with `cv=K`. The search space is the
config's `search.space` (or `DEFAULT_SPACES`). Each evaluation of a trial is reported to Optuna
(`SearchPruning`) and a trial the pruner rejects stops there, recorded PRUNED.

    STUDY_DIR/study.json          the study: config, objective, trials, best, importances, pruning
    STUDY_DIR/study.journal       Optuna's journal storage (default; `storage=URL` for an RDB)
    STUDY_DIR/trials/NNNN/        each finished trial's run directory (search.keep: all | best)
    STUDY_DIR/best                a symlink to the best trial's directory (best.txt where
                                  symlinks fail)
    STUDY_DIR/best_config.yaml    the best parameters applied: `textclass train best_config.yaml`
    STUDY_DIR/study_report.md/.html

Workers: every process running the same command (same STUDY_DIR, or the same `storage` and
`study`) joins one study. A worker counts the trials and asks for the next one under a file
lock (exactly `trials` trials among the workers of one machine); the trial numbers come from
the storage. A trial whose worker died (its process is gone; on an RDB, its heartbeat stopped)
is marked FAIL with `interrupted` and its parameters are queued again, so an interrupted study
resumes where it stopped when the command is run again.

Torch is imported by the trials only: `show_study` reads a study without it.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import statistics
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textclass.config.load import load_config, validate
from textclass.config.schema import Distribution, RunConfig, search_problems
from textclass.errors import ConfigError, TextclassError, TrainingInterrupted
from textclass.workflows import rundir
from textclass.workflows.rundir import RunDir

log = logging.getLogger(__name__)

# The space searched when `search.space` is empty, per model.architecture.
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "transformer": {
        "train.lr": {"type": "float", "low": 1e-5, "high": 2e-4, "log": True},
        "train.batch_size": {"type": "categorical", "choices": [16, 32]},
        "train.warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
        "train.weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
        "model.dropout": {"type": "float", "low": 0.0, "high": 0.3},
    },
    "bilstm": {
        "train.lr": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
        "train.batch_size": {"type": "categorical", "choices": [16, 32, 64]},
        "model.bilstm.hidden_size": {"type": "categorical", "choices": [64, 128, 256]},
        "model.bilstm.dropout": {"type": "float", "low": 0.0, "high": 0.5},
    },
    # The penalty is already chosen on validation; what is left is the class weighting.
    "linear": {"train.class_weights": {"type": "categorical", "choices": ["none", "balanced"]}},
}
HEARTBEAT_SECONDS, GRACE_SECONDS = 60, 180  # RDB storages: a trial silent for 3 min is stale
IDENTITY = ("study_name", "metric", "direction", "cv", "data_sha256", "config")


def require_optuna():
    try:
        import optuna
    except ImportError:
        raise TextclassError(
            'hyper-parameter search needs Optuna: pip install "textclass[tune]"'
        ) from None
    return optuna


@dataclass
class TuneResult:
    study_dir: Path
    summary: dict[str, Any]  # study.json

    @property
    def best(self) -> dict[str, Any] | None:
        return self.summary.get("best")

    @property
    def best_value(self) -> float | None:
        return self.best["value"] if self.best else None

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best["params"] if self.best else {}

    @property
    def best_run_dir(self) -> Path | None:
        return best_run_dir(self.study_dir)

    @property
    def best_config(self) -> Path:
        return self.study_dir / rundir.BEST_CONFIG


@dataclass
class _Study:
    """What every trial of this worker shares: the prepared data and the study's settings."""

    cfg: RunConfig
    data: Any  # PreparedData
    space: dict[str, Distribution]
    plan: dict[str, Any]
    path: Path
    storage: Any
    callbacks: list[Any] = field(default_factory=list)
    report: bool = True
    folds: Any = None  # --cv: (pool, assignment, k)

    @property
    def metric(self) -> str:
        return self.plan["metric"]


# ---------------------------------------------------------------- the space


def search_space(cfg: RunConfig) -> dict[str, Distribution]:
    """`search.space`, or the default space of the architecture, checked against `cfg`."""
    if cfg.search.space:
        return dict(cfg.search.space)
    default = DEFAULT_SPACES[cfg.model.architecture]
    space = {k: Distribution.model_validate(v) for k, v in default.items()}
    problems = search_problems(cfg, space)
    if problems:
        raise ConfigError(["the default search space does not fit this config", *problems])
    return space


def suggest(trial: Any, key: str, dist: Distribution) -> Any:
    """One value of `key` drawn by the trial's sampler."""
    if dist.type == "categorical":
        return trial.suggest_categorical(key, dist.choices)
    if dist.type == "int":
        step = int(dist.step or 1)
        return trial.suggest_int(key, int(dist.low), int(dist.high), step=step, log=dist.log)
    return trial.suggest_float(key, dist.low, dist.high, step=dist.step, log=dist.log)


def trial_config(cfg: RunConfig, params: dict[str, Any], name: str) -> RunConfig:
    """`cfg` with the trial's parameters set (dotted keys), validated as any config is (a
    combination the config refuses is a ConfigError)."""
    raw = cfg.given()
    for key, value in params.items():
        *parents, last = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    raw["name"] = name
    return validate(raw)


# ---------------------------------------------------------------- the study


def tune(
    config: RunConfig | str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    trials: int = 20,
    timeout: float | None = None,
    storage: str | None = None,
    study: str | None = None,
    output: str | Path | None = None,
    cv: int | None = None,
    frames: Any = None,
    callbacks: list[Any] | None = None,
    pruner: Any = None,
    report: bool = True,
) -> TuneResult:
    """Search the hyper-parameters of the run `config` describes (see the module docstring):
    `trials` trials in all among the workers of this study, this worker stopping after
    `timeout` seconds; `storage` an RDB URL (default: a journal file in the study directory);
    `study` its name; `cv` K-fold objective; `pruner` an Optuna pruner replacing
    `search.pruner`. An entry point: it applies the process-wide settings."""
    from transformers import set_seed

    from textclass.config.tasks import get_task
    from textclass.runtime import configure_process
    from textclass.workflows.train import prepare

    optuna = require_optuna()
    if trials < 1:
        raise TextclassError(f"--trials {trials}: run at least one trial.")
    cfg = config if isinstance(config, RunConfig) else load_config(config, overrides)
    configure_process(cfg.train.num_threads)
    set_seed(cfg.seed)
    data = prepare(cfg, frames)
    space = search_space(cfg)
    lower = get_task(data.task).lower_is_better(cfg.train.metric)
    path = Path(output) if output else cfg.output.dir / f"{cfg.output.name or cfg.name}-tune"
    plan = _plan(cfg, data, space, lower, storage, study, cv)
    _open_dir(path, plan)
    backend = _storage(storage, path)
    opened = optuna.create_study(
        storage=backend,
        study_name=plan["study_name"],
        direction=plan["direction"],
        pruner=pruner or make_pruner(cfg.search, cv),
        load_if_exists=True,
    )
    if opened.direction.name.lower() != plan["direction"]:
        raise TextclassError(
            f"study `{plan['study_name']}` in that storage {opened.direction.name.lower()}s; "
            f"train.metric={plan['metric']} needs {plan['direction']}. Name another --study."
        )
    ctx = _Study(cfg, data, space, plan, path, backend, list(callbacks or []), report)
    if cv:
        ctx.folds = _folds(cfg, data, cv)
    log.info(
        "study `%s` in %s: %s %s on %s, %d trials",
        plan["study_name"], path, plan["direction"], plan["metric"],
        f"{cv}-fold CV" if cv else "validation", trials,
    )  # fmt: skip
    run_trials(ctx, opened, trials, timeout)
    with _locked(path):  # workers ending together write one after the other
        summary = write_summary(ctx.path, opened, plan, importances=True)
        if report:
            from textclass.reporting.search import write_study_report

            paths = write_study_report(path)
            log.info("study report: %s and %s", paths["md"], paths["html"])
    return TuneResult(path, summary)


def make_pruner(search: Any, cv: int | None) -> Any:
    """`search.pruner` as an Optuna pruner. Steps are evaluation numbers (1, 2, ...), or fold
    numbers with `cv`: there, the Wilcoxon signed-rank test compares a trial's folds with the
    best trial's same folds."""
    optuna = require_optuna()
    if search.pruner == "none":
        return optuna.pruners.NopPruner()
    if cv:
        with warnings.catch_warnings():  # "experimental" since Optuna 3.6
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=2)
    if search.pruner == "median":
        # MedianPruner never prunes at a step below n_warmup_steps; steps start at 1.
        return optuna.pruners.MedianPruner(
            n_startup_trials=search.n_startup_trials,
            n_warmup_steps=search.n_warmup_evaluations + 1,
        )
    return optuna.pruners.HyperbandPruner(
        min_resource=search.n_warmup_evaluations + 1, max_resource="auto", reduction_factor=3
    )


def _plan(cfg, data, space, lower, storage, study, cv) -> dict[str, Any]:
    """What identifies the study (IDENTITY) and how to reopen it (`show_study`)."""
    return {
        "kind": "study",
        "study_name": study or cfg.name or "study",
        "storage": _shown_url(storage) if storage else None,  # None: the journal file
        "metric": cfg.train.metric,
        "direction": "minimize" if lower else "maximize",
        "cv": cv,
        "space": {k: d.model_dump(exclude_defaults=True) for k, d in space.items()},
        "search": cfg.search.model_dump(exclude={"space"}),
        "task": data.task,
        "data_sha256": data.file_hashes,
        "config": cfg.to_dict(),
    }


def _shown_url(url: str) -> str:
    """An RDB URL without its password (study.json is not a place for credentials)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL: Optuna will say so when it opens it
        return url


def _open_dir(path: Path, plan: dict[str, Any]) -> None:
    """The study directory: new, or holding this same study (continued or joined)."""
    earlier = RunDir(path).read(rundir.STUDY_SUMMARY)
    if earlier is not None:
        differing = [k for k in IDENTITY if earlier.get(k) != plan[k]]
        if differing:
            raise TextclassError(
                f"{path} holds another study (its {', '.join(differing)} differ). Choose "
                "another --output, or remove that directory."
            )
    elif path.exists() and not path.is_dir():
        raise TextclassError(f"--output {path} is a file; name a directory for the study.")
    path.mkdir(parents=True, exist_ok=True)
    (path / rundir.STUDY_TRIALS).mkdir(exist_ok=True)
    if earlier is None:
        rundir.write_json(path / rundir.STUDY_SUMMARY, {**plan, "trials": []})


def _storage(url: str | None, path: Path) -> Any:
    """A journal file in the study directory (workers on one machine), or an RDB (workers on
    many machines) whose trials send heartbeats, so a dead worker's trial is retried."""
    optuna = require_optuna()
    if url is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path / rundir.STUDY_JOURNAL)))
    retry, keyword = _retry_callback()
    with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            **{keyword: retry(max_retry=2)},
        )


def _retry_callback() -> tuple[Any, str]:
    """Optuna's callback that queues a stale trial again, and the RDBStorage keyword taking it
    (renamed in Optuna 4.9; the old names go in 6.0)."""
    storages = require_optuna().storages
    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
        return storages.RetryHeartbeatStaleTrialCallback, "heartbeat_stale_trial_callback"
    return storages.RetryFailedTrialCallback, "failed_trial_callback"


def _folds(cfg: RunConfig, data: Any, k: int) -> tuple[Any, Any, int]:
    from textclass.data.split import kfold
    from textclass.workflows.crossval import pool_rows

    if k < 2:
        raise TextclassError(f"--cv {k}: cross-validation needs at least 2 folds.")
    pool = pool_rows(data)
    return pool, kfold(pool, k, cfg.seed), k


# ---------------------------------------------------------------- the worker


def run_trials(ctx: _Study, study: Any, trials: int, timeout: float | None) -> None:
    """Ask, run and tell trials until the study holds `trials` of them (or `timeout` passed)."""
    started = time.monotonic()
    while timeout is None or time.monotonic() - started < timeout:
        with _locked(ctx.path):
            fail_stale_trials(study)
            if budget_used(study) >= trials:
                break
            trial = _ask(ctx, study)
        _run_trial(ctx, study, trial)
        with _locked(ctx.path):
            after_trial(ctx, study)


@contextmanager
def _locked(path: Path):
    """A lock that the workers of this machine share (Optuna's own journal file lock)."""
    from optuna.storages.journal import JournalFileOpenLock

    lock = JournalFileOpenLock(str(path / rundir.STUDY_LOCK))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _ask(ctx: _Study, study: Any) -> Any:
    """The next trial (a queued retry first), its sampler seeded from the seed and the number
    of trials drawn so far (retries, which repeat a drawn point, left out): one worker's study
    is reproducible, resumed or not, and workers started together draw differently."""
    optuna = require_optuna()
    seed = ctx.cfg.seed + _drawn(study)
    if ctx.cfg.search.sampler == "random":
        study.sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        study.sampler = optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=ctx.cfg.search.n_startup_trials,
            constant_liar=True,  # running trials count as bad: parallel workers spread out
        )
    with warnings.catch_warnings():  # heartbeats: `_heartbeat` sends them, not Study.optimize
        warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used")
        trial = study.ask()
    trial.set_user_attr("worker", _worker())
    return trial


def _worker() -> dict[str, Any]:
    import psutil

    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": psutil.Process().create_time(),
    }


def _alive(worker: dict[str, Any]) -> bool:
    """Whether the process that ran a trial still runs (a reused process id does not count)."""
    import psutil

    try:
        return psutil.Process(worker["pid"]).create_time() == worker["started"]
    except (psutil.Error, KeyError, TypeError):
        return False


def fail_stale_trials(study: Any) -> list[int]:
    """RUNNING trials whose worker is gone: marked FAIL (`interrupted`) and queued again. On
    this machine, a process that no longer runs; on an RDB, also a trial without heartbeat
    (Optuna's `fail_stale_trials`, which queues its own retry)."""
    optuna = require_optuna()
    host, me = socket.gethostname(), os.getpid()
    stale = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker") or {}
        if worker.get("host") == host and worker.get("pid") != me and not _alive(worker):
            interrupt(study, t, f"its worker (process {worker.get('pid')}) is gone")
            stale.append(t.number)
    if getattr(study._storage, "is_heartbeat_enabled", lambda: False)():
        optuna.storages.fail_stale_trials(study)
    if stale:
        log.warning("trials %s were interrupted: failed and queued again", stale)
    return stale


def interrupt(study: Any, trial: Any, why: str) -> None:
    """Fail a running trial as interrupted (not counted) and queue its parameters again."""
    optuna = require_optuna()
    study._storage.set_trial_user_attr(trial._trial_id, "interrupted", why)
    study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    if trial.params:
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


def _drawn(study: Any) -> int:
    """Trials whose point the sampler drew: all but the retries of interrupted ones."""
    optuna = require_optuna()
    retry = _retry_callback()[0].retried_trial_number
    with warnings.catch_warnings():  # "experimental" since Optuna 2.8, and still there
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return sum(
            1
            for t in study.get_trials(deepcopy=False)
            if "retry_of" not in t.user_attrs and retry(t) is None
        )


def budget_used(study: Any) -> int:
    """Trials that count towards the study's total: all but the interrupted ones (retried)."""
    optuna = require_optuna()
    fail = optuna.trial.TrialState.FAIL
    retry = _retry_callback()[0].retried_trial_number
    trials = study.get_trials(deepcopy=False)
    with warnings.catch_warnings():  # "experimental" since Optuna 2.8, and still there
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retried = {t.user_attrs.get("retry_of") for t in trials} | {retry(t) for t in trials}
    return sum(
        1
        for t in trials
        if t.state != fail or ("interrupted" not in t.user_attrs and t.number not in retried)
    )


def _run_trial(ctx: _Study, study: Any, trial: Any) -> None:
    """Run one trial and tell the study how it ended; memory is freed before RSS is read."""
    optuna = require_optuna()
    state, value, began = None, None, time.perf_counter()
    try:
        with _heartbeat(study, trial):
            value = objective(ctx, trial)
    except optuna.TrialPruned as exc:
        state = optuna.trial.TrialState.PRUNED
        log.info("trial %d %s", trial.number, exc)
    except ConfigError as exc:  # the sampled combination is refused: this trial fails
        state = optuna.trial.TrialState.FAIL
        trial.set_user_attr("error", str(exc))
        log.warning("trial %d: %s", trial.number, exc)
    except (TrainingInterrupted, KeyboardInterrupt, SystemExit) as exc:
        interrupt(study, trial, f"stopped: {exc}")
        raise TrainingInterrupted(
            f"the search stopped in trial {trial.number}; it is queued again. Run the same "
            f"command (--output {ctx.path}) to continue the study."
        ) from exc
    except BaseException as exc:
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    free_memory()
    trial.set_user_attr("seconds", round(time.perf_counter() - began, 2))
    trial.set_user_attr("rss_mb", round(rss_mb(), 1))
    study.tell(trial, value, state=state)
    if value is not None:
        log.info("trial %d: %s %.4f with %s", trial.number, ctx.metric, value, trial.params)


@contextmanager
def _heartbeat(study: Any, trial: Any):
    """An RDB with heartbeats: beat while the trial runs (a silent trial is failed as stale)."""
    storage = study._storage
    if not getattr(storage, "is_heartbeat_enabled", lambda: False)():
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.record_heartbeat(trial._trial_id)
            if stop.wait(storage.get_heartbeat_interval() or HEARTBEAT_SECONDS):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def free_memory() -> None:
    """What trials leave behind goes now: cycles collected, the accelerator's cache emptied."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# ---------------------------------------------------------------- one trial


def objective(ctx: _Study, trial: Any) -> float:
    """The trial's `train.metric`: on validation, or the mean over the held-out folds."""
    params = {key: suggest(trial, key, dist) for key, dist in ctx.space.items()}
    cfg = trial_config(ctx.cfg, params, f"{ctx.cfg.name or 'run'}-trial-{trial.number:04d}")
    if ctx.folds is not None:
        return _cv_objective(ctx, trial, cfg)
    from textclass.training.callbacks import SearchPruning

    result = _fit(cfg, ctx.data, [SearchPruning(trial), *ctx.callbacks])
    _record_steps(trial, [_counts(result)])
    _write_run(ctx.path / rundir.STUDY_TRIAL.format(n=trial.number), result, ctx.report)
    return float(result.metrics["validation"][ctx.metric])


def _fit(cfg: RunConfig, data: Any, callbacks: list[Any]) -> Any:
    """Build (seeded: every trial's head starts alike) and fit in memory."""
    from transformers import set_seed

    from textclass.workflows.train import build_for, fit_and_evaluate

    set_seed(cfg.seed)
    built = build_for(cfg, data)
    return fit_and_evaluate(cfg, data, built=built, callbacks=callbacks)


def _counts(result: Any) -> tuple[int, int, int]:
    """Optimizer steps run, steps planned and evaluations of a fitted result."""
    state = result.state
    return state.global_step, state.total_steps, len(state.history)


def _record_steps(trial: Any, counts: list[tuple[int, int, int]], folds: int = 1) -> None:
    """Steps run and planned (a CV trial pruned early: planned as if all `folds` ran)."""
    trial.set_user_attr("steps_run", sum(c[0] for c in counts))
    planned = sum(c[1] for c in counts) * folds / max(len(counts), 1)
    trial.set_user_attr("steps_planned", round(planned))
    trial.set_user_attr("evaluations", sum(c[2] for c in counts))


def _cv_objective(ctx: _Study, trial: Any, cfg: RunConfig) -> float:
    """The mean of the held-out folds' metric; after each fold the pruner may stop the trial
    (steps are fold numbers: every trial's fold k holds the same rows)."""
    import copy

    from textclass.data.prepare import with_splits
    from textclass.workflows.crossval import fold_splits

    optuna = require_optuna()
    pool, assignment, k = ctx.folds
    values, counts = [], []
    trial_dir = ctx.path / rundir.STUDY_TRIAL.format(n=trial.number)
    for fold in range(1, k + 1):
        fold_cfg = copy.deepcopy(cfg)
        fold_cfg.name = f"{cfg.name}-{rundir.CV_FOLD.format(k=fold)}"
        fold_data = with_splits(ctx.data, fold_splits(cfg, pool, assignment, fold))
        result = _fit(fold_cfg, fold_data, list(ctx.callbacks))
        values.append(float(result.metrics["test"][ctx.metric]))
        counts.append(_counts(result))
        _write_run(trial_dir / rundir.CV_FOLD.format(k=fold), result, ctx.report)
        del result  # the next fold's model is built without this one in memory
        trial.report(values[-1], fold)
        _record_steps(trial, counts, folds=k)
        if fold < k and trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned after fold {fold}/{k}: mean {statistics.fmean(values):.4f}"
            )
    trial.set_user_attr("fold_values", values)
    return statistics.fmean(values)


def _write_run(path: Path, result: Any, report: bool) -> None:
    """A finished trial's run directory, as `train` writes one."""
    from textclass.workflows.train import write_run

    run = RunDir.create(path, path, overwrite=True)
    run.write_config_text(result.cfg.to_yaml())
    run.write(rundir.ENVIRONMENT, result.environment)
    run.write(rundir.DATA, result.data.stats)
    write_run(run, result, report=report)


# ---------------------------------------------------------------- after each trial


def after_trial(ctx: _Study, study: Any) -> None:
    """Under the lock: the best trial linked and its config written, beaten trials' directories
    removed (search.keep: best), study.json brought up to date."""
    best = _best_trial(study)
    if best is not None:
        target = rundir.STUDY_TRIAL.format(n=best.number)
        if (ctx.path / target).is_dir():
            link_best(ctx.path, target)
        best_cfg = trial_config(ctx.cfg, best.params, f"{ctx.cfg.name or 'run'}-best")
        text = yaml.safe_dump(best_cfg.given(), sort_keys=False, allow_unicode=True)
        (ctx.path / rundir.BEST_CONFIG).write_text(text, encoding="utf-8")
    if ctx.cfg.search.keep == "best":
        _remove_beaten(ctx.path, study, best)
    write_summary(ctx.path, study, ctx.plan)


def _best_trial(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def link_best(path: Path, target: str) -> None:
    """`best` -> `target` (relative), replaced atomically; a pointer file where symlinks fail."""
    link, tmp = path / rundir.STUDY_BEST, path / f".{rundir.STUDY_BEST}.{os.getpid()}"
    try:
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(target, tmp, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        (path / rundir.STUDY_BEST_POINTER).write_text(target + "\n", encoding="utf-8")


def best_run_dir(path: Path) -> Path | None:
    """The best trial's run directory, through the link or the pointer file."""
    path = Path(path)
    link, pointer = path / rundir.STUDY_BEST, path / rundir.STUDY_BEST_POINTER
    if link.is_dir():
        return link.resolve()
    if pointer.is_file():
        return path / pointer.read_text(encoding="utf-8").strip()
    return None


def _remove_beaten(path: Path, study: Any, best: Any) -> None:
    """search.keep: best: every finished trial's directory but the best's goes (running
    trials, this worker's or another's, are left alone)."""
    import shutil

    running = {t.number for t in study.get_trials(deepcopy=False) if not t.state.is_finished()}
    keep = running | ({best.number} if best is not None else set())
    for child in (path / rundir.STUDY_TRIALS).iterdir():
        if child.name.isdigit() and int(child.name) not in keep:
            shutil.rmtree(child, ignore_errors=True)


# ---------------------------------------------------------------- the summary


def summarise(study: Any, plan: dict[str, Any], importances: bool = False) -> dict[str, Any]:
    """study.json: the plan, every trial, the best one, what pruning saved, and (at the end of
    a worker's run) the parameter importances."""
    rows = [_trial_row(t) for t in study.get_trials(deepcopy=False)]
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    best = _best_trial(study)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    summary = {
        **plan,
        "trials": rows,
        "counts": counts,
        "best": _trial_row(best) if best is not None else None,
        "pruning": _pruning(rows),
    }
    if importances:
        summary["importances"], summary["importance_note"] = _importances(study, len(complete))
    return summary


def write_summary(
    path: Path, study: Any, plan: dict[str, Any], importances: bool = False
) -> dict[str, Any]:
    summary = summarise(study, plan, importances)
    earlier = RunDir(path).read(rundir.STUDY_SUMMARY) or {}
    if not importances and "importances" in earlier:  # keep the last computed ones
        summary["importances"] = earlier["importances"]
        summary["importance_note"] = earlier.get("importance_note")
    rundir.write_json(path / rundir.STUDY_SUMMARY, summary)
    return summary


def _trial_row(t: Any) -> dict[str, Any]:
    attrs = t.user_attrs
    seconds = attrs.get("seconds")
    if seconds is None and t.datetime_start and t.datetime_complete:
        seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 2)
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value,
        "params": t.params,
        "seconds": seconds,
        "steps_run": attrs.get("steps_run"),
        "steps_planned": attrs.get("steps_planned"),
        "evaluations": attrs.get("evaluations"),
        "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
        "rss_mb": attrs.get("rss_mb"),
        "host": (attrs.get("worker") or {}).get("host"),
        "interrupted": attrs.get("interrupted"),
        "retry_of": attrs.get("retry_of"),
        "error": attrs.get("error"),
        "run_dir": rundir.STUDY_TRIAL.format(n=t.number) if t.state.name == "COMPLETE" else None,
    }


def _pruning(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Optimizer steps run against those the same trials would have run unpruned: a complete
    trial's own (early stopping may have ended it before its plan), a pruned trial's planned
    steps (at most: unpruned, early stopping might have ended it sooner)."""
    done = [r for r in rows if r["state"] in ("COMPLETE", "PRUNED") and r["steps_planned"]]
    run = sum(r["steps_run"] or 0 for r in done)
    planned = sum(r["steps_run" if r["state"] == "COMPLETE" else "steps_planned"] for r in done)
    return {
        "pruned": sum(r["state"] == "PRUNED" for r in rows),
        "steps_run": run,
        "steps_planned": planned,
        "saved_share": (1 - run / planned) if planned else None,
    }


def _importances(study: Any, complete: int) -> tuple[dict[str, float] | None, str | None]:
    """Optuna's parameter importances (its default evaluator) over the complete trials, or why
    there are none."""
    optuna = require_optuna()
    if complete < 2:
        return None, f"{complete} complete trial(s): importances need at least 2."
    try:
        found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as exc:
        return None, f"not computed: {exc}"
    return {k: float(v) for k, v in found.items()}, None


def show_study(path: str | Path, storage: str | None = None) -> str:
    """The leaderboard of the study in `path`, read live from its storage."""
    path = Path(path)
    plan = RunDir(path).read(rundir.STUDY_SUMMARY)
    if plan is None:
        raise TextclassError(f"{path}: no {rundir.STUDY_SUMMARY}, so not a study directory.")
    url = storage or plan.get("storage")
    if url and "***" in url:
        raise TextclassError(f"{path}'s storage URL hides its password: pass --storage URL.")
    optuna = require_optuna()
    opened = optuna.load_study(study_name=plan["study_name"], storage=_storage(url, path))
    from textclass.reporting.search import leaderboard

    return leaderboard(summarise(opened, plan))
