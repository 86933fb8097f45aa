"""Tenure: a customer lifecycle engine. The public API is what `__all__` lists."""

from tenure.errors import TenureError
from tenure.ingest.summary import IngestSummary
from tenure.synth import generate
from tenure.workspace import Workspace

__version__ = "0.1.0"
__all__ = ["IngestSummary", "TenureError", "Workspace", "__version__", "generate"]
