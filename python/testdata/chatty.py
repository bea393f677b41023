import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, n: int = 1):
    import numpy as np
    print("hello from the UDF, n =", n)
    print("a second line")
    return np.full((256, 256), n, dtype="uint8")
