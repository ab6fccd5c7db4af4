"""Errors raised by the client: every gRPC failure becomes an ExpsvcError."""

import grpc


class ExpsvcError(Exception):
    """A call the scheduler refused or could not answer.

    ``code`` is the gRPC status (``grpc.StatusCode``) and ``message`` the
    scheduler's own words, e.g. ``NOT_FOUND: sweep 99 not found``.
    """

    def __init__(self, code, message, method=""):
        self.code = code
        self.message = message
        self.method = method
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        where = f" ({method})" if method else ""
        super().__init__(f"{name}: {message}{where}")


def from_rpc_error(error, method=""):
    """The ExpsvcError for a grpc.RpcError (or any exception a call raised)."""
    if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
        return ExpsvcError(error.code(), error.details() or "", method)
    return ExpsvcError(grpc.StatusCode.UNKNOWN, str(error), method)
