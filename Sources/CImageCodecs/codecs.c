// The only place that calls setjmp: libjpeg and libpng report fatal errors by longjmp, so each entry
// point sets a jump target, and the error handlers format the library's message and jump back here,
// where everything allocated is released and an error code returned.
#include "cimagecodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

void cic_free(void *p) { free(p); }

static void set_msg(char *msg, const char *text) {
    if (msg) snprintf(msg, CIC_MSG_LEN, "%s", text);
}

// MARK: - libjpeg error handling

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *msg;
    int code;       // CIC_* code to return after the jump
    int max_scans;  // progressive scan bound (decoder only)
} jpeg_err;

static void jpeg_error_exit(j_common_ptr cinfo) {
    jpeg_err *err = (jpeg_err *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    set_msg(err->msg, text);
    if (err->code == CIC_OK) err->code = CIC_CORRUPT;
    longjmp(err->jump, 1);
}

// Warnings are never printed. Those that mean the pixel data is damaged or missing (truncated file,
// bad entropy codes) are fatal: a half-grey image is not a useful result of a resize service. Benign
// ones (extraneous bytes between markers, unknown JFIF revision) are ignored, as other decoders do.
static void jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;  // trace messages
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
        jpeg_error_exit(cinfo);
        break;
    default:
        cinfo->err->num_warnings++;
    }
}

static void jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void jpeg_err_init(jpeg_err *err, char *msg) {
    jpeg_std_error(&err->pub);
    err->pub.error_exit = jpeg_error_exit;
    err->pub.emit_message = jpeg_emit_message;
    err->pub.output_message = jpeg_output_message;
    err->msg = msg;
    err->code = CIC_OK;
    err->max_scans = 0;
}

// A progressive file can hold thousands of tiny scans, each costing a full pass over the coefficients:
// bound them (libjpeg-turbo's djpeg -maxscans does the same).
static void jpeg_progress(j_common_ptr cinfo) {
    jpeg_err *err = (jpeg_err *)cinfo->err;
    if (!cinfo->is_decompressor || err->max_scans <= 0) return;
    int scan = ((j_decompress_ptr)cinfo)->input_scan_number;
    if (scan > err->max_scans) {
        char text[JMSG_LENGTH_MAX];
        snprintf(text, sizeof text, "progressive JPEG has more than %d scans", err->max_scans);
        set_msg(err->msg, text);
        err->code = CIC_LIMIT;
        longjmp(err->jump, 1);
    }
}

// MARK: - EXIF orientation (APP1 "Exif\0\0" + TIFF header, IFD0 tag 0x0112)

static unsigned rd16(const uint8_t *p, int le) { return le ? (unsigned)p[0] | (unsigned)p[1] << 8
                                                           : (unsigned)p[0] << 8 | (unsigned)p[1]; }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int exif_orientation(const uint8_t *data, size_t len) {
    if (len < 6 + 8 || memcmp(data, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *tiff = data + 6;
    size_t n = len - 6;
    int le;
    if (tiff[0] == 'I' && tiff[1] == 'I') le = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') le = 0;
    else return 1;
    if (rd16(tiff + 2, le) != 42) return 1;
    uint32_t ifd = rd32(tiff + 4, le);
    if (ifd < 8 || (size_t)ifd > n - 2) return 1;
    unsigned count = rd16(tiff + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t entry = (size_t)ifd + 2 + (size_t)12 * i;
        if (entry + 12 > n) break;
        if (rd16(tiff + entry, le) != 0x0112) continue;
        unsigned type = rd16(tiff + entry + 2, le);
        uint32_t value;
        if (type == 3) value = rd16(tiff + entry + 8, le);        // SHORT (the standard type)
        else if (type == 4) value = rd32(tiff + entry + 8, le);   // LONG (seen from some writers)
        else return 1;
        return (value >= 1 && value <= 8) ? (int)value : 1;
    }
    return 1;
}

static int jpeg_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0)
            return exif_orientation(m->data, m->data_length);
    }
    return 1;
}

// Memory source that, at the end of the data, supplies one EOI marker silently and warns (fatally,
// see jpeg_emit_message) only if more is wanted after that. A file missing nothing but its final EOI
// then decodes like a complete one, while data cut inside an entropy segment still fails ("premature
// end of data segment") and a cut inside a marker segment fails with "Premature end of JPEG file".
typedef struct {
    struct jpeg_source_mgr pub;
    int fake_eoi;  // times the end of the data was reached
} jpeg_mem_source;

static const JOCTET jpeg_eoi[2] = {0xFF, JPEG_EOI};

static void jpeg_src_init(j_decompress_ptr cinfo) { (void)cinfo; }
static void jpeg_src_term(j_decompress_ptr cinfo) { (void)cinfo; }

static boolean jpeg_src_fill(j_decompress_ptr cinfo) {
    jpeg_mem_source *src = (jpeg_mem_source *)cinfo->src;
    if (src->fake_eoi++ > 0) WARNMS(cinfo, JWRN_JPEG_EOF);
    src->pub.next_input_byte = jpeg_eoi;
    src->pub.bytes_in_buffer = 2;
    return TRUE;
}

static void jpeg_src_skip(j_decompress_ptr cinfo, long count) {
    struct jpeg_source_mgr *src = cinfo->src;
    if (count <= 0) return;
    while (count > (long)src->bytes_in_buffer) {
        count -= (long)src->bytes_in_buffer;
        (void)(*src->fill_input_buffer)(cinfo);
    }
    src->next_input_byte += count;
    src->bytes_in_buffer -= (size_t)count;
}

static void jpeg_prepare(j_decompress_ptr cinfo, jpeg_mem_source *src, const uint8_t *data, size_t len,
                         int save_icc) {
    memset(src, 0, sizeof *src);
    src->pub.init_source = jpeg_src_init;
    src->pub.fill_input_buffer = jpeg_src_fill;
    src->pub.skip_input_data = jpeg_src_skip;
    src->pub.resync_to_restart = jpeg_resync_to_restart;
    src->pub.term_source = jpeg_src_term;
    src->pub.next_input_byte = data;
    src->pub.bytes_in_buffer = len;
    cinfo->src = &src->pub;
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
    if (save_icc) jpeg_save_markers(cinfo, JPEG_APP0 + 2, 0xFFFF);
    jpeg_read_header(cinfo, TRUE);
}

int cic_jpeg_info(const uint8_t *data, size_t len, cic_info *info, char *msg) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    jpeg_mem_source src;
    memset(info, 0, sizeof *info);
    if (len == 0) { set_msg(msg, "empty input"); return CIC_CORRUPT; }
    cinfo.err = jpeg_std_error(&err.pub);
    jpeg_err_init(&err, msg);
    jpeg_create_decompress(&cinfo);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return err.code;
    }
    jpeg_prepare(&cinfo, &src, data, len, 0);
    info->width = (int)cinfo.image_width;
    info->height = (int)cinfo.image_height;
    info->components = cinfo.num_components;
    info->orientation = jpeg_orientation(&cinfo);
    info->has_alpha = 0;
    info->grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    for (int i = 0; i < 8; i++) {
        cinfo.scale_num = (unsigned)(i + 1);
        cinfo.scale_denom = 8;
        jpeg_calc_output_dimensions(&cinfo);
        info->scaled_width[i] = (int)cinfo.output_width;
        info->scaled_height[i] = (int)cinfo.output_height;
    }
    jpeg_destroy_decompress(&cinfo);
    return CIC_OK;
}

// dst(ox, oy) for upright orientation `o`, from the stored w x h image `src` (3 bytes per pixel).
static void orient_rgb(const uint8_t *src, int w, int h, int o, uint8_t *dst) {
    int uw = o >= 5 ? h : w, uh = o >= 5 ? w : h;
    for (int oy = 0; oy < uh; oy++) {
        uint8_t *d = dst + (size_t)oy * uw * 3;
        for (int ox = 0; ox < uw; ox++, d += 3) {
            int ix, iy;
            switch (o) {
            case 2: ix = w - 1 - ox; iy = oy; break;
            case 3: ix = w - 1 - ox; iy = h - 1 - oy; break;
            case 4: ix = ox; iy = h - 1 - oy; break;
            case 5: ix = oy; iy = ox; break;
            case 6: ix = oy; iy = h - 1 - ox; break;
            case 7: ix = w - 1 - oy; iy = h - 1 - ox; break;
            case 8: ix = w - 1 - oy; iy = ox; break;
            default: ix = ox; iy = oy; break;
            }
            const uint8_t *s = src + ((size_t)iy * w + ix) * 3;
            d[0] = s[0]; d[1] = s[1]; d[2] = s[2];
        }
    }
}

// Photoshop writes Adobe CMYK inverted (0 = full ink); others write plain CMYK.
static void cmyk_to_rgb(const uint8_t *src, int w, int inverted, uint8_t *dst) {
    for (int x = 0; x < w; x++, src += 4, dst += 3) {
        unsigned c = src[0], m = src[1], y = src[2], k = src[3];
        if (!inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
        dst[0] = (uint8_t)((c * k + 127) / 255);
        dst[1] = (uint8_t)((m * k + 127) / 255);
        dst[2] = (uint8_t)((y * k + 127) / 255);
    }
}

int cic_jpeg_decode(const uint8_t *data, size_t len, int scale_num, int max_scans,
                    uint8_t *out, int out_width, int out_height, char *msg) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress;
    jpeg_err err;
    jpeg_mem_source src;
    uint8_t *volatile stored = NULL;   // stored-orientation image when a rotation is needed
    uint8_t *volatile cmyk_rows = NULL;
    if (len == 0) { set_msg(msg, "empty input"); return CIC_CORRUPT; }
    if (scale_num < 1 || scale_num > 8) { set_msg(msg, "bad scale"); return CIC_MISMATCH; }
    cinfo.err = jpeg_std_error(&err.pub);
    jpeg_err_init(&err, msg);
    err.max_scans = max_scans;
    jpeg_create_decompress(&cinfo);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(stored);
        free(cmyk_rows);
        return err.code;
    }
    progress.progress_monitor = jpeg_progress;
    cinfo.progress = &progress;
    jpeg_prepare(&cinfo, &src, data, len, 0);
    int orientation = jpeg_orientation(&cinfo);
    int cmyk = cinfo.num_components == 4;
    int inverted = cmyk && cinfo.saw_Adobe_marker;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    cinfo.scale_num = (unsigned)scale_num;
    cinfo.scale_denom = 8;
    jpeg_calc_output_dimensions(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    int uw = orientation >= 5 ? h : w, uh = orientation >= 5 ? w : h;
    if (uw != out_width || uh != out_height) {
        set_msg(msg, "output size does not match the caller's buffer");
        err.code = CIC_MISMATCH;
        longjmp(err.jump, 1);
    }
    jpeg_start_decompress(&cinfo);

    uint8_t *target = out;
    if (orientation != 1) {
        stored = malloc((size_t)w * h * 3);
        if (!stored) { set_msg(msg, "out of memory"); err.code = CIC_NOMEM; longjmp(err.jump, 1); }
        target = stored;
    }
    enum { BATCH = 16 };
    if (cmyk) {
        cmyk_rows = malloc((size_t)w * 4 * BATCH);
        if (!cmyk_rows) { set_msg(msg, "out of memory"); err.code = CIC_NOMEM; longjmp(err.jump, 1); }
    }
    JSAMPROW rows[BATCH];
    while (cinfo.output_scanline < cinfo.output_height) {
        int y0 = (int)cinfo.output_scanline;
        int n = h - y0 < BATCH ? h - y0 : BATCH;
        for (int i = 0; i < n; i++)
            rows[i] = cmyk ? cmyk_rows + (size_t)i * w * 4 : target + (size_t)(y0 + i) * w * 3;
        int got = (int)jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)n);
        if (got <= 0) {
            set_msg(msg, "decoder returned no scanlines");
            err.code = CIC_CORRUPT;
            longjmp(err.jump, 1);
        }
        if (cmyk)
            for (int i = 0; i < got; i++)
                cmyk_to_rgb(cmyk_rows + (size_t)i * w * 4, w, inverted, target + (size_t)(y0 + i) * w * 3);
    }
    // A multi-scan file (progressive, or sequential with one component per scan) is fully read before
    // its first scanline; if it ended early, whole scans are missing (a blurred or discoloured
    // picture): refuse it like any truncated file.
    if (src.fake_eoi > 0 && (cinfo.progressive_mode || cinfo.comps_in_scan < cinfo.num_components)) {
        set_msg(msg, "Premature end of JPEG file");
        err.code = CIC_CORRUPT;
        longjmp(err.jump, 1);
    }
    if (orientation != 1) orient_rgb(stored, w, h, orientation, out);
    // No jpeg_finish_decompress: every pixel has been read, and a missing EOI after that is harmless.
    jpeg_destroy_decompress(&cinfo);
    free(stored);
    free(cmyk_rows);
    return CIC_OK;
}

// MARK: - JPEG ICC profile (APP2 "ICC_PROFILE\0", sequence number, count, then that part of the profile)

int cic_jpeg_icc(const uint8_t *data, size_t len, size_t max_len, uint8_t **out, size_t *out_len, char *msg) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    jpeg_mem_source src;
    *out = NULL;
    *out_len = 0;
    if (len == 0) { set_msg(msg, "empty input"); return CIC_CORRUPT; }
    cinfo.err = jpeg_std_error(&err.pub);
    jpeg_err_init(&err, msg);
    jpeg_create_decompress(&cinfo);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return err.code;
    }
    jpeg_prepare(&cinfo, &src, data, len, 1);
    const uint8_t *parts[256] = {0};
    size_t sizes[256] = {0};
    unsigned count = 0;
    size_t total = 0;
    char text[CIC_MSG_LEN];
    int code = CIC_OK;
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m && code == CIC_OK; m = m->next) {
        if (m->marker != JPEG_APP0 + 2 || m->data_length < 14 || memcmp(m->data, "ICC_PROFILE\0", 12) != 0)
            continue;
        unsigned seq = m->data[12], n = m->data[13];
        if (n == 0 || seq == 0 || seq > n) {
            snprintf(text, sizeof text, "ICC_PROFILE segment numbered %u of %u", seq, n);
            code = CIC_CORRUPT;
        } else if (count != 0 && n != count) {
            snprintf(text, sizeof text, "ICC_PROFILE segments disagree on their count (%u, %u)", count, n);
            code = CIC_CORRUPT;
        } else if (parts[seq - 1]) {
            snprintf(text, sizeof text, "ICC_PROFILE segment %u of %u appears twice", seq, n);
            code = CIC_CORRUPT;
        } else {
            count = n;
            parts[seq - 1] = m->data + 14;
            sizes[seq - 1] = m->data_length - 14;
            total += sizes[seq - 1];
        }
    }
    for (unsigned i = 0; i < count && code == CIC_OK; i++) {
        if (!parts[i]) {
            snprintf(text, sizeof text, "ICC_PROFILE segment %u of %u is missing", i + 1, count);
            code = CIC_CORRUPT;
        }
    }
    if (code == CIC_OK && count > 0 && total > max_len) {
        snprintf(text, sizeof text, "ICC profile of %zu bytes exceeds %zu bytes", total, max_len);
        code = CIC_LIMIT;
    }
    if (code == CIC_OK && count > 0) {
        uint8_t *profile = total ? malloc(total) : NULL;
        if (!profile) {
            snprintf(text, sizeof text, total ? "out of memory" : "empty ICC profile");
            code = total ? CIC_NOMEM : CIC_CORRUPT;
        } else {
            size_t at = 0;
            for (unsigned i = 0; i < count; i++) {
                memcpy(profile + at, parts[i], sizes[i]);
                at += sizes[i];
            }
            *out = profile;
            *out_len = total;
        }
    }
    jpeg_destroy_decompress(&cinfo);
    if (code != CIC_OK) set_msg(msg, text);
    return code;
}

// MARK: - JPEG encoder

int cic_jpeg_encode(const uint8_t *pixels, int width, int height, int channels, int quality,
                    uint8_t **out, size_t *out_len, char *msg) {
    struct jpeg_compress_struct cinfo;
    jpeg_err err;
    unsigned char *volatile buffer = NULL;
    unsigned long size = 0;
    uint8_t *volatile row = NULL;
    *out = NULL;
    *out_len = 0;
    if (width <= 0 || height <= 0 || (channels != 3 && channels != 4)) {
        set_msg(msg, "bad image layout");
        return CIC_MISMATCH;
    }
    cinfo.err = jpeg_std_error(&err.pub);
    jpeg_err_init(&err, msg);
    jpeg_create_compress(&cinfo);
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        free(row);
        return err.code;
    }
    jpeg_mem_dest(&cinfo, (unsigned char **)&buffer, &size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : quality > 100 ? 100 : quality, TRUE);
    cinfo.optimize_coding = TRUE;  // a few % smaller for little time
    jpeg_start_compress(&cinfo, TRUE);
    if (channels == 4) {
        row = malloc((size_t)width * 3);
        if (!row) { set_msg(msg, "out of memory"); err.code = CIC_NOMEM; longjmp(err.jump, 1); }
    }
    while (cinfo.next_scanline < cinfo.image_height) {
        const uint8_t *src = pixels + (size_t)cinfo.next_scanline * width * channels;
        JSAMPROW r;
        if (channels == 4) {
            // Composite straight alpha over white: c*a + 255*(255-a), rounded.
            for (int x = 0; x < width; x++) {
                unsigned a = src[4 * x + 3];
                for (int c = 0; c < 3; c++)
                    row[3 * x + c] = (uint8_t)((src[4 * x + c] * a + 255 * (255 - a) + 127) / 255);
            }
            r = row;
        } else {
            r = (JSAMPROW)src;
        }
        jpeg_write_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(row);
    *out = buffer;
    *out_len = size;
    return CIC_OK;
}

// MARK: - libpng

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    char *msg;
    char *warning;  // cic_png_icc: the first warning about iCCP (why libpng dropped the profile)
} png_reader;

static void png_on_error(png_structp png, png_const_charp text) {
    png_reader *r = (png_reader *)png_get_error_ptr(png);
    if (r) set_msg(r->msg, text);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp text) {
    png_reader *r = (png_reader *)png_get_error_ptr(png);
    if (r && r->warning && r->warning[0] == 0 && text && strstr(text, "iCCP")) set_msg(r->warning, text);
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n) {
    png_reader *r = (png_reader *)png_get_io_ptr(png);
    if (n > r->len - r->pos) png_error(png, "unexpected end of PNG data (file truncated)");
    memcpy(dst, r->data + r->pos, n);
    r->pos += n;
}

// Bounds on what libpng may allocate for ancillary data: a PNG can carry thousands of chunks or a
// zTXt/iCCP that inflates to gigabytes. The IDAT stream is bounded by the image size, which the
// caller has checked against its pixel limit before decoding.
static void png_guard(png_structp png, png_uint_32 max_dimension) {
    png_set_user_limits(png, max_dimension, max_dimension);
    png_set_chunk_cache_max(png, 128);
    png_set_chunk_malloc_max(png, 8 * 1024 * 1024);
}

// Shared front half: create, guard, read up to the first IDAT and set up the 8-bit RGB(A) transform.
// Returns the output channel count.
static int png_setup(png_structp png, png_infop pinfo) {
    png_read_info(png, pinfo);
    int color = png_get_color_type(png, pinfo);
    int depth = png_get_bit_depth(png, pinfo);
    int alpha = (color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, pinfo, PNG_INFO_tRNS);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, pinfo, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_scale_16(png);  // rounds, unlike png_set_strip_16
    if (!(color & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);
    return alpha ? 4 : 3;
}

int cic_png_info(const uint8_t *data, size_t len, cic_info *info, char *msg) {
    png_reader reader = {data, len, 0, msg, NULL};
    png_structp volatile png = NULL;
    png_infop volatile pinfo = NULL;
    memset(info, 0, sizeof *info);
    if (len < 8 || png_sig_cmp(data, 0, 8) != 0) { set_msg(msg, "not a PNG signature"); return CIC_CORRUPT; }
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_on_error, png_on_warning);
    if (!png) { set_msg(msg, "out of memory"); return CIC_NOMEM; }
    pinfo = png_create_info_struct(png);
    if (!pinfo) { png_destroy_read_struct((png_structpp)&png, NULL, NULL); set_msg(msg, "out of memory"); return CIC_NOMEM; }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct((png_structpp)&png, (png_infopp)&pinfo, NULL);
        return CIC_CORRUPT;
    }
    png_set_read_fn(png, &reader, png_read_mem);
    png_guard(png, 0x7fffffff);  // the header is only read: let the caller see and judge any size
    // Only png_read_info: png_read_update_info (png_setup) allocates and clears row buffers sized by the
    // header's width, so a 70-byte PNG claiming a width of 10^9 cost gigabytes before the caller could
    // check the size (found by Fuzz/FuzzPNG). The channel count needs no transforms.
    png_read_info(png, pinfo);
    int color = png_get_color_type(png, pinfo);
    int channels = (color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, pinfo, PNG_INFO_tRNS) ? 4 : 3;
    info->width = (int)png_get_image_width(png, pinfo);
    info->height = (int)png_get_image_height(png, pinfo);
    info->orientation = 1;
    info->components = channels;
    info->has_alpha = channels == 4;
    info->grey = !(color & PNG_COLOR_MASK_COLOR);
    png_destroy_read_struct((png_structpp)&png, (png_infopp)&pinfo, NULL);
    return CIC_OK;
}

// libpng inflates iCCP itself, refusing (with a warning, and no allocation) a profile whose header
// claims more than the chunk limit, which is set to `max_len` here; it also drops profiles whose header
// is inconsistent or whose colour space does not fit the image type. Such a drop is reported as damage.
int cic_png_icc(const uint8_t *data, size_t len, size_t max_len, uint8_t **out, size_t *out_len, char *msg) {
    char warning[CIC_MSG_LEN] = "";
    png_reader reader = {data, len, 0, msg, warning};
    png_structp volatile png = NULL;
    png_infop volatile pinfo = NULL;
    *out = NULL;
    *out_len = 0;
    if (len < 8 || png_sig_cmp(data, 0, 8) != 0) { set_msg(msg, "not a PNG signature"); return CIC_CORRUPT; }
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_on_error, png_on_warning);
    if (!png) { set_msg(msg, "out of memory"); return CIC_NOMEM; }
    pinfo = png_create_info_struct(png);
    if (!pinfo) { png_destroy_read_struct((png_structpp)&png, NULL, NULL); set_msg(msg, "out of memory"); return CIC_NOMEM; }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct((png_structpp)&png, (png_infopp)&pinfo, NULL);
        return CIC_CORRUPT;
    }
    png_set_read_fn(png, &reader, png_read_mem);
    png_guard(png, 0x7fffffff);
    png_set_chunk_malloc_max(png, max_len < 8 * 1024 * 1024 ? 8 * 1024 * 1024 : max_len);
    png_read_info(png, pinfo);  // reads every chunk before the first IDAT, where iCCP must be
    png_charp name = NULL;
    int compression = 0;
    png_bytep profile = NULL;
    png_uint_32 length = 0;
    int code = CIC_OK;
    if (png_get_iCCP(png, pinfo, &name, &compression, &profile, &length) && profile && length > 0) {
        if (length > max_len) {
            char text[CIC_MSG_LEN];
            snprintf(text, sizeof text, "ICC profile of %u bytes exceeds %zu bytes", (unsigned)length, max_len);
            set_msg(msg, text);
            code = CIC_LIMIT;
        } else {
            uint8_t *copy = malloc(length);
            if (!copy) { set_msg(msg, "out of memory"); code = CIC_NOMEM; }
            else { memcpy(copy, profile, length); *out = copy; *out_len = length; }
        }
    } else if (warning[0]) {
        set_msg(msg, warning);
        code = CIC_CORRUPT;
    }
    png_destroy_read_struct((png_structpp)&png, (png_infopp)&pinfo, NULL);
    return code;
}

int cic_png_decode(const uint8_t *data, size_t len, uint8_t *out, int width, int height, int channels,
                   char *msg) {
    png_reader reader = {data, len, 0, msg, NULL};
    png_structp volatile png = NULL;
    png_infop volatile pinfo = NULL;
    png_bytep *volatile rows = NULL;
    if (len < 8 || png_sig_cmp(data, 0, 8) != 0) { set_msg(msg, "not a PNG signature"); return CIC_CORRUPT; }
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_on_error, png_on_warning);
    if (!png) { set_msg(msg, "out of memory"); return CIC_NOMEM; }
    pinfo = png_create_info_struct(png);
    if (!pinfo) { png_destroy_read_struct((png_structpp)&png, NULL, NULL); set_msg(msg, "out of memory"); return CIC_NOMEM; }
    volatile int code = CIC_CORRUPT;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct((png_structpp)&png, (png_infopp)&pinfo, NULL);
        free(rows);
        return code;
    }
    png_set_read_fn(png, &reader, png_read_mem);
    png_guard(png, (png_uint_32)(width > height ? width : height));
    int got = png_setup(png, pinfo);
    if ((int)png_get_image_width(png, pinfo) != width || (int)png_get_image_height(png, pinfo) != height ||
        got != channels || png_get_rowbytes(png, pinfo) != (size_t)width * channels) {
        code = CIC_MISMATCH;
        png_error(png, "output layout does not match the caller's buffer");
    }
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) { code = CIC_NOMEM; png_error(png, "out of memory"); }
    for (int y = 0; y < height; y++) rows[y] = out + (size_t)y * width * channels;
    png_read_image(png, rows);  // handles Adam7 passes into the full buffer
    png_destroy_read_struct((png_structpp)&png, (png_infopp)&pinfo, NULL);
    free(rows);
    return CIC_OK;
}

// MARK: - PNG encoder

typedef struct {
    uint8_t *data;
    size_t len, cap;
    char *msg;
} png_writer;

static void png_write_mem(png_structp png, png_bytep src, size_t n) {
    png_writer *w = (png_writer *)png_get_io_ptr(png);
    if (n > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 64 * 1024;
        while (n > cap - w->len) {
            if (cap > SIZE_MAX / 2) png_error(png, "PNG output too large");
            cap *= 2;
        }
        uint8_t *grown = realloc(w->data, cap);
        if (!grown) png_error(png, "out of memory");
        w->data = grown;
        w->cap = cap;
    }
    memcpy(w->data + w->len, src, n);
    w->len += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

static void png_on_write_error(png_structp png, png_const_charp text) {
    png_writer *w = (png_writer *)png_get_error_ptr(png);
    if (w) set_msg(w->msg, text);
    png_longjmp(png, 1);
}

int cic_png_encode(const uint8_t *pixels, int width, int height, int channels, int zlib_level,
                   uint8_t **out, size_t *out_len, char *msg) {
    png_writer writer = {NULL, 0, 0, msg};
    png_structp volatile png = NULL;
    png_infop volatile pinfo = NULL;
    *out = NULL;
    *out_len = 0;
    if (width <= 0 || height <= 0 || (channels != 3 && channels != 4)) {
        set_msg(msg, "bad image layout");
        return CIC_MISMATCH;
    }
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &writer, png_on_write_error, png_on_warning);
    if (!png) { set_msg(msg, "out of memory"); return CIC_NOMEM; }
    pinfo = png_create_info_struct(png);
    if (!pinfo) { png_destroy_write_struct((png_structpp)&png, NULL); set_msg(msg, "out of memory"); return CIC_NOMEM; }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct((png_structpp)&png, (png_infopp)&pinfo);
        free(writer.data);
        return CIC_CORRUPT;
    }
    png_set_write_fn(png, &writer, png_write_mem, png_flush_mem);
    png_set_IHDR(png, pinfo, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, zlib_level);
    png_write_info(png, pinfo);
    for (int y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * width * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct((png_structpp)&png, (png_infopp)&pinfo);
    *out = writer.data;
    *out_len = writer.len;
    return CIC_OK;
}
