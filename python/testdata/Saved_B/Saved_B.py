import fused
from utils import helper


@fused.udf
def udf(v: int = 1):
    return helper(v)
