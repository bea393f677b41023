import fused


@fused.udf
def udf(n: int = 1):
    return n +* 2
