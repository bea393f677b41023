import fused


@fused.cache
def slow_square(n):
    return n * n


@fused.udf(headers=["shout.py"], cache_max_age="5m", instance_type="large")
def udf(who: str = "x"):
    import utils
    import shout as again  # headers are importable too
    return shout.loud(utils.greet(who)) + again.mark + str(slow_square(3))
