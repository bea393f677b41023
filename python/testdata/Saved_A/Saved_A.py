import fused


@fused.udf
def udf(v: int = 1):
    # Fused's saved layout: the utils module beside the UDF, imported in its body.
    from utils import helper

    return helper(v)
