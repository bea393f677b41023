package gdal

/*
#include <malloc.h>
static void udft_tune_malloc(void) {
	// GDAL allocates and frees a buffer of a few hundred KiB for every warped
	// block. Above glibc's default threshold each one is a fresh mmap whose pages
	// fault in and are zeroed; kept on the heap they are reused.
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
}
*/
import "C"

func tuneMalloc() { C.udft_tune_malloc() }
