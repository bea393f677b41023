# Fused docs: tutorials/Geospatial with Fused/write-data.mdx
#   (https://docs.fused.io/tutorials/Geospatial%20with%20Fused/write-data), "Array: to Cloud Optimized GeoTIFF (COG)".
# Data swapped: path "s3://fused-sample/demo_data/satellite_imagery/wildfires.tiff" -> "data/demo/rgb.tif";
#   output "/mnt/cache/..." -> "mnt/cache/..." (a folder in the server's working directory).
# Restored: `import numpy as np`, `import rasterio`, profile.update({"dtype": "uint8"}) and the
#   f-strings' {username} and {output_path}.
import fused


@fused.udf
def udf(path: str = "data/demo/rgb.tif"):
    import numpy as np
    import rasterio

    # Read the raster data
    with rasterio.open(path) as src:
        data = src.read()
        profile = src.profile
    
    # Process the data
    processed_data = np.where(data > np.percentile(data, 80), 255, 0).astype(np.uint8)
    
    # Update profile for writing
    profile.update({"dtype": "uint8"})
    
    # Write to Fused's shared disk (accessible to all UDFs in org)
    username = fused.api.whoami()['handle']
    output_path = f"mnt/cache/wildfires_processed_{username}.tif"
    
    with rasterio.open(output_path, 'w', **profile) as dst:
        dst.write(processed_data)
    
    return f"File saved to shared disk at {output_path}"
