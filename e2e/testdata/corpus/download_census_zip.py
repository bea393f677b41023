# Fused docs: core-concepts/content-management/download.mdx
#   (https://docs.fused.io/core-concepts/content-management/download), "fused.download".
# Data swapped: url "https://www2.census.gov/geo/tiger/TIGER_RD18/STATE/11_DISTRICT_OF_COLUMBIA/11/tl_rd22_11_bg.zip"
#   -> the same path on the test's HTTP server on 127.0.0.1 (@HTTP@ is replaced by its address).
import fused


@fused.udf
def udf(url='@HTTP@/geo/tiger/TIGER_RD18/STATE/11_DISTRICT_OF_COLUMBIA/11/tl_rd22_11_bg.zip'):
    out_path = fused.download(url=url, file_path='out.zip')
    print(out_path)
