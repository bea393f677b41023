# common.read_tiff as Fused's docs call it (fused-docs.txt, "Displaying the image":
# tiles = common.get_tiles(bounds); arr = common.read_tiff(tiles, path, output_shape=...)),
# and at the file's own resolution (output_shape=None) with its metadata.
@fused.udf
def udf(bounds: fused.types.Bounds = None, path: str = "", mode: str = "tile"):
    common = fused.load("https://github.com/fusedio/udfs/tree/fbf5682/public/common/")
    if mode == "tile":
        tiles = common.get_tiles(bounds)
        arr = common.read_tiff(tiles, path, output_shape=(256, 256))
        return {"shape": list(arr.shape), "dtype": str(arr.dtype), "masked": arr.mask.tolist(),
                "data": arr.data.tolist(), "is_masked_array": type(arr).__name__}
    if mode == "window":
        arr, meta = common.read_tiff(bounds, path, output_shape=None, return_transform=True, return_crs=True,
                                     return_bounds=True)
        return {"shape": list(arr.shape), "data": arr.data.tolist(), "transform": list(meta["transform"])[:6],
                "crs": meta["crs"].to_epsg(), "bounds": list(meta["bounds"])}
    if mode == "outside":
        return {"none": common.read_tiff(bounds, path) is None}
    raise ValueError(mode)
