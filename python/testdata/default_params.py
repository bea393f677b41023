import fused


@fused.udf(default_parameters={"n": 7, "label": "from default_parameters"})
def udf(n: int = 1, label: str = "from the signature"):
    return {"n": n, "label": label}
