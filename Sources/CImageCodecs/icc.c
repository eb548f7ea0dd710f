// Embedded ICC profiles → sRGB with lcms2, in place, right after decoding. lcms2 reports errors by
// return values (no longjmp). Each call runs in its own lcms2 context whose allocator is bounded, so a
// small hostile profile that declares a huge lookup table cannot make lcms2 allocate (and clear) hundreds
// of megabytes: lcms2's own cap is 512 MB per block.
#include "cimagecodecs.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <lcms2.h>
#include <lcms2_plugin.h>

// What lcms2 may hold at once for one conversion. A matrix/TRC profile needs well under 1 MB, a
// printer profile's 33^4 16-bit CLUT about 7 MB, the optimised 8-bit transform a few hundred kB.
#define ICC_MEMORY_LIMIT ((size_t)64 << 20)

typedef struct {
    size_t used, limit;
    int exceeded;
    char error[CIC_MSG_LEN];  // lcms2's first logged error
} icc_budget;

// Every block carries its size in front, so free and realloc can account for it.
typedef union { size_t size; max_align_t align; } icc_block;

static void *icc_malloc(cmsContext ctx, cmsUInt32Number size) {
    icc_budget *b = cmsGetContextUserData(ctx);
    if (b && (size > b->limit || b->used > b->limit - size)) { b->exceeded = 1; return NULL; }
    icc_block *block = malloc(sizeof(icc_block) + size);
    if (!block) return NULL;
    block->size = size;
    if (b) b->used += size;
    return block + 1;
}

static void icc_free(cmsContext ctx, void *ptr) {
    if (!ptr) return;
    icc_block *block = (icc_block *)ptr - 1;
    icc_budget *b = cmsGetContextUserData(ctx);
    if (b) b->used -= block->size;
    free(block);
}

static void *icc_realloc(cmsContext ctx, void *ptr, cmsUInt32Number size) {
    if (!ptr) return icc_malloc(ctx, size);
    icc_block *block = (icc_block *)ptr - 1;
    icc_budget *b = cmsGetContextUserData(ctx);
    size_t old = block->size;
    if (b && size > old && (size - old > b->limit || b->used > b->limit - (size - old))) {
        b->exceeded = 1;
        return NULL;
    }
    icc_block *grown = realloc(block, sizeof(icc_block) + size);
    if (!grown) return NULL;
    if (b) b->used = b->used - old + size;
    grown->size = size;
    return grown + 1;
}

static void icc_log(cmsContext ctx, cmsUInt32Number code, const char *text) {
    (void)code;
    icc_budget *b = cmsGetContextUserData(ctx);
    if (b && b->error[0] == 0 && text) snprintf(b->error, sizeof b->error, "%s", text);
}

static void icc_msg(char *msg, const char *text) {
    if (msg) snprintf(msg, CIC_MSG_LEN, "%s", text);
}

// MARK: - Is it sRGB already?

static double srgb_curve(double v) {
    return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}

// The tone curve matches sRGB's within a quarter of an 8-bit step everywhere sampled.
static int curve_is_srgb(const cmsToneCurve *curve) {
    if (!curve) return 0;
    for (int i = 0; i <= 64; i++) {
        double v = i / 64.0;
        if (fabs(cmsEvalToneCurveFloat(curve, (cmsFloat32Number)v) - srgb_curve(v)) > 0.25 / 255) return 0;
    }
    return 1;
}

static int xyz_near(const cmsCIEXYZ *c, double x, double y, double z) {
    const double tolerance = 0.002;  // profiles in the wild round sRGB's colorants differently
    return c && fabs(c->X - x) <= tolerance && fabs(c->Y - y) <= tolerance && fabs(c->Z - z) <= tolerance;
}

// sRGB as ICC profiles store it: IEC 61966-2-1 primaries adapted to D50 (Bradford) and sRGB's curve.
static int profile_is_srgb(cmsHPROFILE p, int grey) {
    if (grey) return curve_is_srgb(cmsReadTag(p, cmsSigGrayTRCTag));
    if (!cmsIsMatrixShaper(p)) return 0;
    return xyz_near(cmsReadTag(p, cmsSigRedColorantTag), 0.4360747, 0.2225045, 0.0139322) &&
           xyz_near(cmsReadTag(p, cmsSigGreenColorantTag), 0.3850649, 0.7168786, 0.0971045) &&
           xyz_near(cmsReadTag(p, cmsSigBlueColorantTag), 0.1430804, 0.0606169, 0.7141733) &&
           curve_is_srgb(cmsReadTag(p, cmsSigRedTRCTag)) && curve_is_srgb(cmsReadTag(p, cmsSigGreenTRCTag)) &&
           curve_is_srgb(cmsReadTag(p, cmsSigBlueTRCTag));
}

static const char *space_name(cmsColorSpaceSignature space) {
    switch (space) {
    case cmsSigRgbData: return "RGB";
    case cmsSigGrayData: return "Gray";
    case cmsSigCmykData: return "CMYK";
    case cmsSigLabData: return "Lab";
    case cmsSigXYZData: return "XYZ";
    case cmsSigYCbCrData: return "YCbCr";
    default: return "an unsupported colour space";
    }
}

// MARK: - Conversion

// lcms2 converts about 50 million pixels a second on one core here (19 ns a pixel, its own 8-bit
// matrix/shaper path), so a large image is cut into bands run on several threads. cmsDoTransform may run
// concurrently on one transform: each call copies the transform's cache to its own stack, and the
// precalculated 8-bit path allocates nothing.
typedef struct {
    cmsHTRANSFORM transform;
    uint8_t *pixels;
    size_t row_bytes;
    int width, first_row, rows;
} icc_band;

static void *icc_run_band(void *arg) {
    icc_band *b = arg;
    // At most 2^24 pixels a call, so a count never overflows lcms2's 32-bit sizes.
    int chunk = (1 << 24) / b->width;
    if (chunk < 1) chunk = 1;
    for (int y = 0; y < b->rows; y += chunk) {
        int rows = b->rows - y < chunk ? b->rows - y : chunk;
        uint8_t *start = b->pixels + (size_t)(b->first_row + y) * b->row_bytes;
        cmsDoTransform(b->transform, start, start, (cmsUInt32Number)((size_t)rows * b->width));
    }
    return NULL;
}

static void icc_apply(cmsHTRANSFORM transform, uint8_t *pixels, int width, int height, int channels) {
    enum { MAX_THREADS = 8, MIN_BAND_PIXELS = 1 << 19 };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t total = (size_t)width * height;
    int threads = (int)(total / MIN_BAND_PIXELS);
    if (threads > cpus) threads = (int)cpus;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > height) threads = height;
    if (threads < 1) threads = 1;
    icc_band bands[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    int per = (height + threads - 1) / threads;
    for (int i = 0; i < threads; i++) {
        int first = i * per;
        bands[i] = (icc_band){transform, pixels, (size_t)width * channels, width, first,
                              first >= height ? 0 : (height - first < per ? height - first : per)};
        // Band 0 runs on this thread; the others on their own (or here, should a thread not start).
        if (i > 0) started[i] = pthread_create(&ids[i], NULL, icc_run_band, &bands[i]) == 0;
    }
    icc_run_band(&bands[0]);
    for (int i = 1; i < threads; i++) {
        if (started[i]) pthread_join(ids[i], NULL);
        else icc_run_band(&bands[i]);
    }
}

int cic_icc_to_srgb(const uint8_t *profile, size_t len, int grey, uint8_t *pixels, int width, int height,
                    int channels, char *description, char *msg) {
    if (description) description[0] = 0;
    if (!profile || len < 132) { icc_msg(msg, "ICC profile shorter than its 128-byte header"); return CIC_CORRUPT; }
    if (len > 0xFFFFFFFFu) { icc_msg(msg, "ICC profile too large"); return CIC_LIMIT; }
    if (width <= 0 || height <= 0 || (channels != 3 && channels != 4)) { icc_msg(msg, "bad image layout"); return CIC_MISMATCH; }

    icc_budget budget = {0, ICC_MEMORY_LIMIT, 0, {0}};
    cmsPluginMemHandler memory = {
        {cmsPluginMagicNumber, 2060, cmsPluginMemHandlerSig, NULL},  // any lcms2 since contexts (2.6)
        icc_malloc, icc_free, icc_realloc, NULL, NULL, NULL,
    };
    cmsContext ctx = cmsCreateContext(&memory, &budget);
    if (!ctx) { icc_msg(msg, "out of memory"); return CIC_NOMEM; }
    cmsSetLogErrorHandlerTHR(ctx, icc_log);

    int code = CIC_CORRUPT;
    cmsHPROFILE source = NULL, srgb = NULL;
    cmsHTRANSFORM transform = NULL;
    char text[CIC_MSG_LEN] = "";

    source = cmsOpenProfileFromMemTHR(ctx, profile, (cmsUInt32Number)len);
    if (!source) { snprintf(text, sizeof text, "lcms2 cannot read the ICC profile"); goto done; }
    if (description)
        cmsGetProfileInfoASCII(source, cmsInfoDescription, "en", "US", description, CIC_MSG_LEN);

    cmsProfileClassSignature cls = cmsGetDeviceClass(source);
    if (cls != cmsSigInputClass && cls != cmsSigDisplayClass && cls != cmsSigOutputClass &&
        cls != cmsSigColorSpaceClass) {
        snprintf(text, sizeof text, "an ICC profile of this class (device link, abstract, named colour) does not describe an image");
        goto done;
    }
    cmsColorSpaceSignature space = cmsGetColorSpace(source);
    cmsUInt32Number in_format;
    if (space == cmsSigRgbData) {
        in_format = channels == 4 ? TYPE_RGBA_8 : TYPE_RGB_8;
    } else if (space == cmsSigGrayData && grey) {
        // One grey sample per pixel, the R of R = G = B; G, B (and A) are skipped as extra channels.
        in_format = COLORSPACE_SH(PT_GRAY) | CHANNELS_SH(1) | BYTES_SH(1) | EXTRA_SH(channels - 1);
    } else if (space == cmsSigCmykData) {
        // The JPEG decoder has already turned the inks into RGB by formula (docs/images.md).
        snprintf(text, sizeof text, "CMYK ICC profiles are not applied (the inks are converted by formula)");
        goto done;
    } else {
        snprintf(text, sizeof text, "a %s ICC profile does not fit a %s image", space_name(space),
                 grey ? "greyscale" : "colour");
        goto done;
    }
    if (profile_is_srgb(source, space == cmsSigGrayData)) { code = CIC_SKIPPED; goto done; }

    srgb = cmsCreate_sRGBProfileTHR(ctx);
    if (!srgb) { snprintf(text, sizeof text, "lcms2 cannot make its sRGB profile"); goto done; }
    // The output keeps the input's layout; in place, so an alpha byte is skipped and stays as it was.
    transform = cmsCreateTransformTHR(ctx, source, in_format, srgb, channels == 4 ? TYPE_RGBA_8 : TYPE_RGB_8,
                                      INTENT_PERCEPTUAL, 0);
    if (!transform) { snprintf(text, sizeof text, "lcms2 cannot build a transform from the ICC profile"); goto done; }
    icc_apply(transform, pixels, width, height, channels);
    code = CIC_OK;

done:
    if (transform) cmsDeleteTransform(transform);
    if (srgb) cmsCloseProfile(srgb);
    if (source) cmsCloseProfile(source);
    if (code == CIC_CORRUPT && budget.exceeded) {
        code = CIC_LIMIT;
        snprintf(text, sizeof text, "the ICC profile needs more than %zu MB to apply", ICC_MEMORY_LIMIT >> 20);
    }
    if (code != CIC_OK && code != CIC_SKIPPED && msg) {
        if (code == CIC_CORRUPT && budget.error[0]) snprintf(msg, CIC_MSG_LEN, "%s: %s", text, budget.error);
        else snprintf(msg, CIC_MSG_LEN, "%s", text);
    }
    cmsDeleteContext(ctx);
    return code;
}
