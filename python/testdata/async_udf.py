"""An async UDF, as Fused runs them: awaited. It awaits a helper UDF run with
fused.run from inside its own event loop."""
import asyncio

import fused


@fused.udf
async def double(n: int = 1):
    await asyncio.sleep(0)
    return [2 * i for i in range(n)]


@fused.udf
async def udf(bounds: fused.types.Bounds = None, x: int = None, y: int = None, z: int = None, n: int = 3):
    import numpy as np

    async def square(i):
        await asyncio.sleep(0.001)
        return i * i

    squares = await asyncio.gather(*[square(i) for i in range(n)])
    doubled = fused.run(double, n=n)  # an async UDF run synchronously, from a running loop
    if z is not None:
        a = np.full((256, 256), 100 + z, "uint8")
        return a
    return {"squares": squares, "doubled": doubled, "bounds": bounds}
