"""The shared REST layer of the GPU clouds reached through their HTTP APIs (Lambda, Crusoe, ...)."""

from provisioner.providers.rest.client import RestClient, WaitTimeoutError, wait_for
from provisioner.providers.rest.errors import ErrorKind, RestError
from provisioner.providers.rest.retry import RetryPolicy

__all__ = ["ErrorKind", "RestClient", "RestError", "RetryPolicy", "WaitTimeoutError", "wait_for"]
