package demo

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// WriteSTACItem writes item.json into dir: a STAC Item whose assets are the
// demo rasters beside it (dem: elevation.tif, rgb: rgb.tif) by relative
// hrefs, and a thumbnail that is not a raster. The demo config serves it as
// the layer scene (handler stac).
func WriteSTACItem(dir string) (string, error) {
	cog := "image/tiff; application=geotiff; profile=cloud-optimized"
	item := map[string]any{
		"type": "Feature", "stac_version": "1.0.0", "id": "demo-scene",
		"bbox": []float64{13.41, 46.84, 14.23, 47.40},
		"geometry": map[string]any{"type": "Polygon", "coordinates": [][][]float64{
			{{13.41, 46.84}, {14.23, 46.84}, {14.23, 47.40}, {13.41, 47.40}, {13.41, 46.84}}}},
		"properties": map[string]any{"datetime": "2024-06-01T10:00:00Z"},
		"links":      []any{},
		"assets": map[string]any{
			"dem":       map[string]any{"href": "./elevation.tif", "type": cog, "title": "Synthetic DEM (Int16 metres, UTM 33N)", "roles": []string{"data"}},
			"rgb":       map[string]any{"href": "./rgb.tif", "type": cog, "title": "Synthetic RGB image (EPSG:4326)", "roles": []string{"data", "visual"}},
			"thumbnail": map[string]any{"href": "./thumbnail.png", "type": "image/png", "roles": []string{"thumbnail"}},
		},
	}
	b, err := json.MarshalIndent(item, "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "item.json")
	return p, os.WriteFile(p, append(b, '\n'), 0o644)
}
