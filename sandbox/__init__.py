"""A local GoHighLevel API v2 sandbox: ``from sandbox import Sandbox``."""

from sandbox.data import Dataset
from sandbox.faults import Scripted
from sandbox.server import RequestRecord, Sandbox

__all__ = ["Dataset", "RequestRecord", "Sandbox", "Scripted"]
