#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H
// C shim that owns setjmp for libjpeg and libpng (Swift cannot call setjmp); it also holds the libwebp
// codec (webp.c) and the lcms2 conversion of embedded ICC profiles to sRGB (icc.c).
// Every function returns a CIC_* code; on failure `msg` (CIC_MSG_LEN bytes, caller-owned) holds a
// NUL-terminated message from the library. Nothing here prints, exits or aborts.
#include <stddef.h>
#include <stdint.h>

enum {
    CIC_OK = 0,
    CIC_CORRUPT = 1,   // the library rejected the data (message from libjpeg/libpng)
    CIC_NOMEM = 2,     // allocation failed
    CIC_LIMIT = 3,     // a safety bound of the shim (scan count, chunk limits) was hit
    CIC_MISMATCH = 4,  // caller's buffer does not match what the decoder would produce
    CIC_UNSUPPORTED = 5, // valid data this shim does not handle (an animated WebP)
    CIC_SKIPPED = 6,   // cic_icc_to_srgb: the profile is sRGB already; pixels untouched
};
#define CIC_MSG_LEN 256

typedef struct {
    int width, height;          // stored (pre-orientation) size of the full-resolution image
    int scaled_width[8];        // stored size after DCT scaling by (i+1)/8, i = 0..7 (JPEG only)
    int scaled_height[8];
    int orientation;            // EXIF orientation 1..8 (1 when absent or unreadable)
    int components;             // JPEG: 1 grey, 3 colour, 4 CMYK/YCCK; PNG: 3 or 4 (output channels)
    int has_alpha;              // PNG: alpha channel or tRNS present; WebP: alpha present
    int grey;                   // the source is greyscale (JPEG 1 component, PNG grey or grey + alpha)
    int animated;               // WebP: an animation (ANIM chunk)
} cic_info;

int cic_jpeg_info(const uint8_t *data, size_t len, cic_info *info, char *msg);
// Decodes into `out`: upright (orientation applied) RGB, `out_width` x `out_height`, which must equal the
// upright size for `scale_num`/8. `max_scans` bounds the scans of a progressive file.
int cic_jpeg_decode(const uint8_t *data, size_t len, int scale_num, int max_scans,
                    uint8_t *out, int out_width, int out_height, char *msg);

int cic_png_info(const uint8_t *data, size_t len, cic_info *info, char *msg);
// Decodes into `out`: 8-bit RGB (channels 3) or straight RGBA (channels 4), width x height.
int cic_png_decode(const uint8_t *data, size_t len, uint8_t *out, int width, int height, int channels,
                   char *msg);

// Encoders write a malloc'ed buffer to *out (release with cic_free). channels: 3 RGB or 4 RGBA.
int cic_png_encode(const uint8_t *pixels, int width, int height, int channels, int zlib_level,
                   uint8_t **out, size_t *out_len, char *msg);
// RGBA input is composited over white (JPEG has no alpha).
int cic_jpeg_encode(const uint8_t *pixels, int width, int height, int channels, int quality,
                    uint8_t **out, size_t *out_len, char *msg);
void cic_free(void *p);

// MARK: WebP (libwebp; no setjmp involved). Still images only: an animation is CIC_UNSUPPORTED.
int cic_webp_info(const uint8_t *data, size_t len, cic_info *info, char *msg);
// Decodes into `out`: RGB (channels 3) or straight RGBA (channels 4), width x height as cic_webp_info said.
int cic_webp_decode(const uint8_t *data, size_t len, uint8_t *out, int width, int height, int channels,
                    char *msg);
// Lossy WebP at `quality` 1...100; RGBA keeps its alpha (omitted when every pixel is opaque).
int cic_webp_encode(const uint8_t *pixels, int width, int height, int channels, int quality,
                    uint8_t **out, size_t *out_len, char *msg);

// MARK: Embedded ICC profiles
// Each finds the profile a file embeds: JPEG APP2 "ICC_PROFILE" segments (assembled in sequence order),
// PNG iCCP (inflated by libpng), WebP ICCP chunk. *out is a malloc'ed copy (cic_free) or NULL when the
// file has none. CIC_LIMIT: the profile is larger than `max_len`; CIC_CORRUPT: it is there but damaged
// (missing or inconsistent JPEG segments, a truncated chunk, libpng's own refusal); msg says which.
int cic_jpeg_icc(const uint8_t *data, size_t len, size_t max_len, uint8_t **out, size_t *out_len, char *msg);
int cic_png_icc(const uint8_t *data, size_t len, size_t max_len, uint8_t **out, size_t *out_len, char *msg);
int cic_webp_icc(const uint8_t *data, size_t len, size_t max_len, uint8_t **out, size_t *out_len, char *msg);

// Converts `pixels` (8-bit RGB or straight RGBA, alpha untouched) in place from `profile` to sRGB with
// lcms2 (perceptual intent, which is relative colorimetric for matrix/TRC profiles). `grey`: the pixels
// are a greyscale source expanded to R = G = B, which is what a Gray profile needs. `description`
// (CIC_MSG_LEN bytes, may be NULL) receives the profile's description. Returns CIC_OK (converted),
// CIC_SKIPPED (an sRGB profile, or a grey one with the sRGB tone curve: nothing to do), CIC_CORRUPT
// (lcms2 cannot use it, or its colour space does not fit the image: pixels untouched, msg says why) or
// CIC_LIMIT (lcms2 needed more than its memory bound for this profile).
int cic_icc_to_srgb(const uint8_t *profile, size_t len, int grey, uint8_t *pixels, int width, int height,
                    int channels, char *description, char *msg);

#endif
