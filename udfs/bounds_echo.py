import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, x: int = None, y: int = None, z: int = None, label: str = "echo"):
    """Returns what the server passed in: handy to check a client's tile math."""
    return {"label": label, "bounds": list(bounds) if bounds is not None else None, "x": x, "y": y, "z": z}
