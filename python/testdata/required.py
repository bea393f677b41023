import fused


@fused.udf
def udf(n: int, name: str = "a"):
    """n is required; no **kwargs, so unknown parameters are refused."""
    return {"n": n, "name": name}
