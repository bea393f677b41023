package cog

import (
	"fmt"
	"strings"
	"testing"
)

// TestResolveHref: asset hrefs resolve against the item's location as links
// do; schemes other than http(s), s3 and file are refused.
func TestResolveHref(t *testing.T) {
	for _, c := range []struct{ base, href, want string }{
		{"/data/s2/item.json", "./B04.tif", "/data/s2/B04.tif"},
		{"/data/s2/item.json", "bands/B04.tif", "/data/s2/bands/B04.tif"},
		{"/data/s2/item.json", "../other/B04.tif", "/data/other/B04.tif"},
		{"/data/s2/item.json", "/elsewhere/B04.tif", "/elsewhere/B04.tif"},
		{"/data/s2/item.json", "file:///elsewhere/B04.tif", "/elsewhere/B04.tif"},
		{"/data/s2/item.json", "https://cdn.example.com/B04.tif", "https://cdn.example.com/B04.tif"},
		{"https://h.example.com/s2/item.json", "B04.tif", "https://h.example.com/s2/B04.tif"},
		{"https://h.example.com/s2/item.json", "../x/B04.tif?sig=1", "https://h.example.com/x/B04.tif?sig=1"},
		{"https://h.example.com/s2/item.json", "/B04.tif", "https://h.example.com/B04.tif"},
		{"https://h.example.com/s2/item.json", "s3://bucket/B04.tif", "s3://bucket/B04.tif"},
		{"s3://bucket/s2/item.json", "B04.tif", "s3://bucket/s2/B04.tif"},
		{"s3://bucket/s2/item.json", "gs://bucket/B04.tif", "error: scheme gs://"},
		{"/data/item.json", "file://host/B04.tif", "error: a file:// URL of another host"},
		{"/data/item.json", "", "error: no href"},
	} {
		got, err := resolveHref(c.base, c.href)
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != c.want && !(strings.HasPrefix(c.want, "error: ") && strings.Contains(got, strings.TrimPrefix(c.want, "error: "))) {
			t.Errorf("%s + %s: %s, want %s", c.base, c.href, got, c.want)
		}
	}
	for href, want := range map[string]string{
		"https://h/x.tif": "/vsicurl/https://h/x.tif", "s3://b/k.tif": "/vsis3/b/k.tif", "/d/x.tif": "/d/x.tif",
	} {
		if got := gdalPathOf(href); got != want {
			t.Errorf("gdalPathOf(%s): %s, want %s", href, got, want)
		}
	}
}

// TestItemAssets: which assets are rasters, and which documents are items.
func TestItemAssets(t *testing.T) {
	for _, c := range []struct {
		a    itemAsset
		want bool
	}{
		{itemAsset{Href: "B04.tif", Type: "image/tiff; application=geotiff; profile=cloud-optimized"}, true},
		{itemAsset{Href: "B04.TIF"}, true},
		{itemAsset{Href: "https://h/B04.tiff?sig=1"}, true},
		{itemAsset{Href: "x", Type: "image/vnd.stac.geotiff"}, true},
		{itemAsset{Href: "B04.jp2", Type: "image/jp2"}, false},
		{itemAsset{Href: "thumb.png", Type: "image/png"}, false},
		{itemAsset{Href: "MTD.xml"}, false},
		{itemAsset{Href: "x.tif", Type: "application/octet-stream"}, false},
	} {
		if c.a.raster() != c.want {
			t.Errorf("%+v: raster %v, want %v", c.a, !c.want, c.want)
		}
	}
	for doc, want := range map[string]string{
		`{"type":"Feature","assets":{"a":{"href":"a.tif"}},"bbox":[1,2,0,3,4,9]}`: "",
		`{"type":"FeatureCollection","features":[]}`:                              "an ItemCollection",
		`{"type":"Feature","assets":{}}`:                                          "no assets",
		`{"type":"Catalog"}`:                                                      `type "Catalog", want Feature`,
		`[1,2]`:                                                                   "not JSON of an item",
	} {
		it, err := parseItem([]byte(doc))
		switch {
		case want == "" && (err != nil || len(it.BBox) != 4 || it.BBox[2] != 3):
			t.Errorf("%s: %v %+v", doc, err, it)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
	for in, want := range map[string]string{
		"B04|1":         "map[B04:[1]]",
		"B04|1,2,B08|3": "map[B04:[1 2] B08:[3]]",
		"visual|3,2,1":  "map[visual:[3 2 1]]",
		"1":             "error",
		"B04|1,B04|2":   "error",
		"|1":            "error",
		"B04|one":       "error",
	} {
		got, err := parseAssetBidx(strings.Split(in, ","))
		s := "error"
		if err == nil {
			s = fmt.Sprint(got)
		}
		if s != want {
			t.Errorf("asset_bidx=%s: %s (%v), want %s", in, s, err, want)
		}
	}
}
