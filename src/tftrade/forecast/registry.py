"""Model registry on MLflow with a local SQLite backend under ``TFTRADE_HOME``.

Each registration is an MLflow run (parameters, metrics, the model folder with its schema and
scalers as artifacts) plus a version of the registered model.

The champion is the version the registered model's MLflow alias ``champion`` names, set with
:meth:`ModelRegistry.promote` (``tftrade models promote``). One rule picks the model whenever none
is named, for every loader (``tftrade predict``, ``live``, the workers, ``serve``): the champion
when one is set, else the newest registered version (:meth:`ModelRegistry.select`).
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from tftrade.forecast.errors import ModelNotFoundError, PromotionRefusedError
from tftrade.forecast.persistence import load_model, save_model
from tftrade.forecast.training import Trained

DEFAULT_NAME = "tftrade-tft"
CHAMPION_ALIAS = "champion"
"""The registered model's alias naming the version to use when none is named."""
LOSES_TO_BASELINE = "loses_to_baseline"
"""The ``status`` tag of a version that lost to a baseline on validation (not promoted without ``force``)."""
Selection = Literal["champion", "newest", "named"]
"""Why a version was chosen: it is the champion, the newest (no champion set), or the caller named it."""


@dataclass(frozen=True)
class Selected:
    """The version a load uses and why (:data:`Selection`)."""

    version: str
    selection: Selection

    @property
    def detail(self) -> str:
        """One line for people: which version and why."""
        return {"champion": f"version {self.version}, the champion",
                "newest": f"version {self.version}, the newest (no champion set)",
                "named": f"version {self.version}, as named"}[self.selection]


@dataclass(frozen=True)
class Candidate:
    """A version cleared to become the champion (:meth:`ModelRegistry.promotable`): its tags, its run's metrics, and
    the champion it would replace (``None``: none is set)."""

    version: str
    tags: dict[str, str]
    metrics: dict[str, float]
    previous: str | None


class ModelRegistry:
    """Register and load TFT models in ``home/mlflow.db`` (artifacts in ``home/mlartifacts``), or at
    ``tracking_uri`` when given."""

    def __init__(self, home: Path, name: str = DEFAULT_NAME, tracking_uri: str | None = None) -> None:
        from mlflow.tracking import MlflowClient

        home.mkdir(parents=True, exist_ok=True)
        self.home, self.name = home, name
        uri = tracking_uri or f"sqlite:///{home / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def _experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(self.name)
        if exp is not None:
            return str(exp.experiment_id)
        return str(self.client.create_experiment(self.name, artifact_location=(self.home / "mlartifacts").as_uri()))

    def register(
        self, trained: Trained, params: dict[str, Any], metrics: dict[str, float], tags: dict[str, str] | None = None
    ) -> str:
        """Log ``trained`` with ``params`` and ``metrics``; return the new version number as a string.

        ``tags`` are set on the run and the model version (e.g. ``status=loses_to_baseline``), so the
        MLflow UI shows a model that lost to a baseline on validation as such.
        """
        from mlflow.entities import Metric, Param
        from mlflow.exceptions import MlflowException

        run = self.client.create_run(self._experiment_id())
        run_id = run.info.run_id
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items() if v == v],
            params=[Param(k, str(v)[:500]) for k, v in params.items()],
        )
        with tempfile.TemporaryDirectory() as tmp:
            self.client.log_artifacts(run_id, str(save_model(trained, Path(tmp) / "model")), "model")
        for k, v in (tags or {}).items():
            self.client.set_tag(run_id, k, v)
        self.client.set_terminated(run_id)
        with contextlib.suppress(MlflowException):  # already registered
            self.client.create_registered_model(self.name)
        version = self.client.create_model_version(self.name, f"{run.info.artifact_uri}/model", run_id,
                                                   tags=tags or None)
        return str(version.version)

    def versions(self) -> list[str]:
        """Return the registered versions, oldest first."""
        found = self.client.search_model_versions(f"name='{self.name}'")
        return [str(v) for v in sorted(int(m.version) for m in found)]

    def champion(self) -> str | None:
        """The version the :data:`CHAMPION_ALIAS` alias names, ``None`` when none is set or nothing is registered."""
        from mlflow.exceptions import MlflowException

        try:
            aliases = self.client.get_registered_model(self.name).aliases
        except MlflowException:  # no registered model of that name yet
            return None
        version = (aliases or {}).get(CHAMPION_ALIAS)
        return None if version is None else str(version)

    def select(self, version: str | None = None) -> Selected:
        """The version to load: ``version`` when named, else the champion, else the newest registered.

        Raises
        ------
        ModelNotFoundError
            If nothing is registered or the named version does not exist.
        """
        known = self.versions()
        if not known:
            raise ModelNotFoundError(f"no model registered as {self.name!r} in {self.home}; run `tftrade train` first")
        if version is not None:
            if version not in known:
                raise ModelNotFoundError(
                    f"model {self.name!r} has no version {version!r}; versions: {', '.join(known)}")
            return Selected(version, "named")
        champion = self.champion()
        if champion is not None and champion in known:
            return Selected(champion, "champion")
        return Selected(known[-1], "newest")

    def _run_metrics(self, run_id: str | None) -> dict[str, float]:
        return dict(self.client.get_run(run_id).data.metrics) if run_id else {}

    def describe(self) -> list[dict[str, Any]]:
        """Each registered version, oldest first: its metrics, tags, run, creation time, and whether it is champion."""
        champion = self.champion()
        found = sorted(self.client.search_model_versions(f"name='{self.name}'"), key=lambda m: int(m.version))
        return [{"version": str(mv.version), "champion": str(mv.version) == champion,
                 "created_ms": mv.creation_timestamp, "run_id": mv.run_id,
                 "tags": dict(mv.tags or {}), "metrics": self._run_metrics(mv.run_id)} for mv in found]

    def _not_promotable(self, version: str, cause: Exception | None = None) -> NoReturn:
        """Raise :class:`ModelNotFoundError` naming the versions; re-raise ``cause`` if ``version`` is registered."""
        known = self.versions()
        if cause is not None and version in known:  # the registry failed otherwise than "no such version"
            raise cause
        listed = ", ".join(known) or "none registered"
        raise ModelNotFoundError(
            f"model {self.name!r} has no version {version!r} to promote; versions: {listed}") from None

    def promotable(self, version: str, *, force: bool = False) -> Candidate:
        """Return ``version`` as a :class:`Candidate` if it may become the champion, else raise (nothing changes).

        Reads that version, its run and the champion alias only (the whole list only to name it in a refusal).

        Raises
        ------
        ModelNotFoundError
            If ``version`` is not registered.
        PromotionRefusedError
            If ``version`` is tagged ``status=loses_to_baseline`` and ``force`` is false.
        """
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(self.name, version)
        except MlflowException as e:
            self._not_promotable(version, e)
        if str(mv.version) != version:  # MLflow reads "01" as version 1; the name must be the registered one
            self._not_promotable(version)
        tags = dict(mv.tags or {})
        if tags.get("status") == LOSES_TO_BASELINE and not force:
            raise PromotionRefusedError(f"model {self.name!r} version {version} is marked {LOSES_TO_BASELINE} "
                                        "(it lost to a baseline on validation); pass --force to promote it anyway")
        return Candidate(version, tags, self._run_metrics(mv.run_id), self.champion())

    def promote(self, version: str, *, approved_by: str, force: bool = False,
                checked: Candidate | None = None) -> str | None:
        """Make ``version`` the champion; return the previous champion (``None``: none was set).

        The version is tagged ``promoted_by`` = ``approved_by``. The CLI records the promotion in the
        audit trail first (:func:`tftrade.compliance.promotion.promote_audited`), passing what it checked with
        :meth:`promotable` as ``checked`` so the registry is not read again (its ``previous`` is returned).

        Raises
        ------
        ModelNotFoundError, PromotionRefusedError
            As :meth:`promotable` (nothing changes).
        ValueError
            If ``checked`` is another version's.
        """
        if checked is not None and checked.version != version:
            raise ValueError(f"promote: checked is version {checked.version}'s, not version {version}'s")
        candidate = self.promotable(version, force=force) if checked is None else checked
        self.client.set_registered_model_alias(self.name, CHAMPION_ALIAS, version)
        self.client.set_model_version_tag(self.name, version, "promoted_by", approved_by)
        return candidate.previous

    def load(self, version: str | None = None) -> tuple[Trained, str]:
        """Return the model of ``version`` and its version; with ``None``, the champion when one is set, else the
        newest registered version (:meth:`select` says which and why).

        Raises
        ------
        ModelNotFoundError
            If nothing is registered or the version does not exist.
        """
        chosen = self.select(version).version
        mv = self.client.get_model_version(self.name, chosen)
        with tempfile.TemporaryDirectory() as tmp:
            local = self.client.download_artifacts(str(mv.run_id), "model", tmp)
            return load_model(Path(local)), chosen
