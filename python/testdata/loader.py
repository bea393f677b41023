"""fused.load of a file or a saved folder (given as a path), called with v."""
import fused


@fused.udf
def udf(target: str = "", v: int = 2, attr: str = ""):
    other = fused.load(target)
    if attr:
        return getattr(other, attr)(v)
    return other(v)
