import fused


@fused.udf
def udf(name: str = "echo", label: str = "via fused.run"):
    return fused.run(name, x=3, y=5, z=4, label=label)
