import fused


@fused.udf
def udf(key: str = "K"):
    return fused.secrets[key]
