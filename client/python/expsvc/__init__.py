"""Python client of expsvc, the experiment service.

- ``expsvc.Client``: submit sweeps, follow them, and read jobs, metrics
  (pandas DataFrames) and artifacts with a user token.
- ``expsvc.run``: inside a ``command`` job, log metrics, save artifacts and
  notice a stop request, with the job's own token.
"""

from expsvc.errors import ExpsvcError

__all__ = ["Client", "ExpsvcError", "run"]


def __getattr__(name):
    # Imported on first use: a job that only needs `run` does not load pandas.
    if name == "Client":
        from expsvc.client import Client
        return Client
    if name == "run":
        import importlib
        return importlib.import_module("expsvc.run")
    raise AttributeError(name)
