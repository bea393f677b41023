"""fused.utils: the helpers of Fused's public UDFs, as older Fused examples reach
them (common = fused.utils.common). fused.load of the common UDF's GitHub URL
gives the same module."""
from . import common  # noqa: F401
