"""The control plane: what outlives a user's server (job definitions, schedules, runs; later model
APIs). One application, hosted by the server extension (plain `jupyter lab`), by a JupyterHub
service (`jupyter-hybrid`) or standalone (`jupyter hybrid control-plane`)."""

from .identity import Caller
from .plane import ControlPlane

__all__ = ["Caller", "ControlPlane"]
