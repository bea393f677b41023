import fused


def triple(v):
    return 3 * v


@fused.udf
def udf(a: int = 1):
    return a * 2
