"""Model registry on MLflow with a local SQLite backend under ``TFTRADE_HOME``.

Each registration is an MLflow run (parameters, metrics, the model folder with its schema and
scalers as artifacts) plus a version of the registered model. :meth:`ModelRegistry.load` fetches
the latest version, or a named one.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from tftrade.forecast.errors import ModelNotFoundError
from tftrade.forecast.persistence import load_model, save_model
from tftrade.forecast.training import Trained

DEFAULT_NAME = "tftrade-tft"


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

    def load(self, version: str | None = None) -> tuple[Trained, str]:
        """Return the model of ``version`` (latest if ``None``) and its version.

        Raises
        ------
        ModelNotFoundError
            If nothing is registered or the version does not exist.
        """
        known = self.versions()
        if not known:
            raise ModelNotFoundError(f"no model registered as {self.name!r} in {self.home}; run `tftrade train` first")
        chosen = version or known[-1]
        if chosen not in known:
            raise ModelNotFoundError(f"model {self.name!r} has no version {chosen!r}; versions: {', '.join(known)}")
        mv = self.client.get_model_version(self.name, chosen)
        with tempfile.TemporaryDirectory() as tmp:
            local = self.client.download_artifacts(str(mv.run_id), "model", tmp)
            return load_model(Path(local)), chosen
