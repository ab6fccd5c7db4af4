"""Channels to the scheduler, shared by the client and the in-job API."""

import os
import re

import grpc

_IP_PORT = re.compile(r"^\d{1,3}(\.\d{1,3}){3}:\d+$")


def target_for(address):
    """A gRPC target for "host:port" or a replica list "host:port,host:port".

    A list of IPv4 addresses becomes one channel that fails over between them
    (gRPC's ipv4: scheme); otherwise the first address is used.
    """
    addresses = [part.strip() for part in address.split(",") if part.strip()]
    if not addresses:
        raise ValueError("no scheduler address given (pass one or set EXPSVC_ADDR)")
    if len(addresses) > 1 and all(_IP_PORT.match(a) for a in addresses):
        return "ipv4:" + ",".join(addresses)
    return addresses[0]


def open_channel(address, tls_ca=None):
    options = [
        ("grpc.max_receive_message_length", 64 << 20),
        ("grpc.lb_policy_name", "pick_first"),
    ]
    target = target_for(address)
    if tls_ca:
        with open(tls_ca, "rb") as handle:
            credentials = grpc.ssl_channel_credentials(root_certificates=handle.read())
        first_host = address.split(",")[0].rsplit(":", 1)[0]
        options.append(("grpc.ssl_target_name_override", first_host))
        return grpc.secure_channel(target, credentials, options=options)
    return grpc.insecure_channel(target, options=options)


def default_address():
    return os.environ.get("EXPSVC_ADDR", "127.0.0.1:50051")
