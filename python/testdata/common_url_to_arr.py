# common.url_to_arr of a PNG by URL or path (fused-docs.txt:
# common.arr_to_plasma(common.url_to_arr(url).squeeze(), ...)).
@fused.udf
def udf(url: str = "", colormap: bool = False):
    common = fused.load("https://github.com/fusedio/udfs/tree/b7637ee/public/common/")
    if colormap:
        arr, cmap = common.url_to_arr(url, return_colormap=True)
        return {"shape": list(arr.shape), "dtype": str(arr.dtype), "data": arr.tolist(),
                "colormap": {str(k): list(v) for k, v in cmap.items() if k < 4}}
    arr = common.url_to_arr(url)
    return {"shape": list(arr.shape), "dtype": str(arr.dtype), "data": arr.tolist()}
