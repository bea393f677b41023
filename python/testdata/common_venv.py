# Runs on a virtualenv's interpreter (python.interpreter): the venv's own packages
# and Debian's (--system-site-packages) both import.
@fused.udf
def udf():
    import sys
    import numpy
    import venv_only
    common = fused.utils.common
    return {"prefix": sys.prefix, "base_prefix": sys.base_prefix, "marker": venv_only.MARKER,
            "numpy": numpy.__version__, "tile": list(common.tile(0.5, 0.5, 1))}
