import fused


@fused.udf(cache_max_age="1h")
def udf(n: int = 1):
    return {"n": n}
