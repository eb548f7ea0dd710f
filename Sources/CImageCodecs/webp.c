// WebP through libwebp: header, still-image decode into the caller's buffer, lossy encode, and the ICCP
// chunk. libwebp reports errors by status codes (no longjmp), and validates the RIFF container itself;
// the only parsing here is the bounded chunk walk that finds ICCP.
#include "cimagecodecs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/encode.h>

static void webp_msg(char *msg, const char *text) {
    if (msg) snprintf(msg, CIC_MSG_LEN, "%s", text);
}

static const char *webp_status_text(VP8StatusCode status) {
    switch (status) {
    case VP8_STATUS_OK: return "ok";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "decoding suspended";
    case VP8_STATUS_USER_ABORT: return "decoding aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data (file truncated)";
    }
    return "unknown error";
}

static int webp_status_code(VP8StatusCode status) {
    return status == VP8_STATUS_OUT_OF_MEMORY ? CIC_NOMEM : CIC_CORRUPT;
}

int cic_webp_info(const uint8_t *data, size_t len, cic_info *info, char *msg) {
    memset(info, 0, sizeof *info);
    if (len == 0) { webp_msg(msg, "empty input"); return CIC_CORRUPT; }
    WebPBitstreamFeatures features;
    // Reads the RIFF header and the VP8X/VP8/VP8L headers only: no pixel memory.
    VP8StatusCode status = WebPGetFeatures(data, len, &features);
    if (status != VP8_STATUS_OK) {
        webp_msg(msg, webp_status_text(status));
        return webp_status_code(status);
    }
    info->width = features.width;
    info->height = features.height;
    info->orientation = 1;
    info->has_alpha = features.has_alpha != 0;
    info->components = info->has_alpha ? 4 : 3;
    info->animated = features.has_animation != 0;
    if (info->animated) {
        webp_msg(msg, "animated WebP (only still images are resized)");
        return CIC_UNSUPPORTED;
    }
    return CIC_OK;
}

int cic_webp_decode(const uint8_t *data, size_t len, uint8_t *out, int width, int height, int channels,
                    char *msg) {
    if (len == 0) { webp_msg(msg, "empty input"); return CIC_CORRUPT; }
    if (width <= 0 || height <= 0 || (channels != 3 && channels != 4)) {
        webp_msg(msg, "bad image layout");
        return CIC_MISMATCH;
    }
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) { webp_msg(msg, "libwebp version mismatch"); return CIC_CORRUPT; }
    VP8StatusCode status = WebPGetFeatures(data, len, &config.input);
    if (status != VP8_STATUS_OK) { webp_msg(msg, webp_status_text(status)); return webp_status_code(status); }
    if (config.input.has_animation) {
        webp_msg(msg, "animated WebP (only still images are resized)");
        return CIC_UNSUPPORTED;
    }
    if (config.input.width != width || config.input.height != height ||
        (config.input.has_alpha ? 4 : 3) != channels) {
        webp_msg(msg, "output layout does not match the caller's buffer");
        return CIC_MISMATCH;
    }
    // Straight (non-premultiplied) RGBA or RGB, written straight into the caller's buffer.
    config.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = out;
    config.output.u.RGBA.stride = width * channels;
    config.output.u.RGBA.size = (size_t)width * height * channels;
    status = WebPDecode(data, len, &config);
    WebPFreeDecBuffer(&config.output);  // frees nothing of ours (external memory), but is the contract
    if (status != VP8_STATUS_OK) { webp_msg(msg, webp_status_text(status)); return webp_status_code(status); }
    return CIC_OK;
}

static const char *webp_encoder_error(WebPEncodingError error) {
    switch (error) {
    case VP8_ENC_OK: return "ok";
    case VP8_ENC_ERROR_OUT_OF_MEMORY: case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY: return "out of memory";
    case VP8_ENC_ERROR_BAD_DIMENSION: return "bad dimensions (WebP allows at most 16383 pixels a side)";
    case VP8_ENC_ERROR_PARTITION0_OVERFLOW: case VP8_ENC_ERROR_PARTITION_OVERFLOW: return "partition overflow";
    case VP8_ENC_ERROR_FILE_TOO_BIG: return "file too big";
    default: return "encoder error";
    }
}

int cic_webp_encode(const uint8_t *pixels, int width, int height, int channels, int quality,
                    uint8_t **out, size_t *out_len, char *msg) {
    *out = NULL;
    *out_len = 0;
    if (width <= 0 || height <= 0 || (channels != 3 && channels != 4)) {
        webp_msg(msg, "bad image layout");
        return CIC_MISMATCH;
    }
    if (width > WEBP_MAX_DIMENSION || height > WEBP_MAX_DIMENSION) {
        webp_msg(msg, "WebP allows at most 16383 pixels a side");
        return CIC_LIMIT;
    }
    WebPConfig config;
    if (!WebPConfigInit(&config)) { webp_msg(msg, "libwebp version mismatch"); return CIC_CORRUPT; }
    config.quality = (float)(quality < 1 ? 1 : quality > 100 ? 100 : quality);
    config.method = 4;  // libwebp's and cwebp's default speed/size trade-off
    if (!WebPValidateConfig(&config)) { webp_msg(msg, "invalid WebP configuration"); return CIC_CORRUPT; }
    WebPPicture picture;
    if (!WebPPictureInit(&picture)) { webp_msg(msg, "libwebp version mismatch"); return CIC_CORRUPT; }
    picture.width = width;
    picture.height = height;
    picture.use_argb = 0;  // lossy: the encoder works in YUV(A) 4:2:0
    int ok = channels == 4 ? WebPPictureImportRGBA(&picture, pixels, width * 4)
                           : WebPPictureImportRGB(&picture, pixels, width * 3);
    if (!ok) {
        WebPPictureFree(&picture);
        webp_msg(msg, "out of memory");
        return CIC_NOMEM;
    }
    WebPMemoryWriter writer;
    WebPMemoryWriterInit(&writer);
    picture.writer = WebPMemoryWrite;
    picture.custom_ptr = &writer;
    ok = WebPEncode(&config, &picture);
    WebPEncodingError error = picture.error_code;
    WebPPictureFree(&picture);
    if (!ok) {
        WebPMemoryWriterClear(&writer);
        webp_msg(msg, webp_encoder_error(error));
        return error == VP8_ENC_ERROR_OUT_OF_MEMORY ? CIC_NOMEM : CIC_CORRUPT;
    }
    // The caller releases with cic_free (free); libwebp's buffer goes back through its own allocator.
    uint8_t *copy = malloc(writer.size ? writer.size : 1);
    if (!copy) { WebPMemoryWriterClear(&writer); webp_msg(msg, "out of memory"); return CIC_NOMEM; }
    memcpy(copy, writer.mem, writer.size);
    *out = copy;
    *out_len = writer.size;
    WebPMemoryWriterClear(&writer);
    return CIC_OK;
}

// MARK: - ICCP chunk

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// Walks the RIFF chunks after "RIFF" size "WEBP" (every length checked against the data and the RIFF
// size) and copies the payload of the first ICCP chunk.
int cic_webp_icc(const uint8_t *data, size_t len, size_t max_len, uint8_t **out, size_t *out_len, char *msg) {
    *out = NULL;
    *out_len = 0;
    if (len < 12 || memcmp(data, "RIFF", 4) != 0 || memcmp(data + 8, "WEBP", 4) != 0) {
        webp_msg(msg, "not a WebP RIFF container");
        return CIC_CORRUPT;
    }
    size_t end = len;
    uint32_t riff = le32(data + 4);
    if ((size_t)riff + 8 < end) end = (size_t)riff + 8;
    size_t at = 12;
    while (at + 8 <= end) {
        uint32_t size = le32(data + at + 4);
        if (memcmp(data + at, "ICCP", 4) == 0) {
            if (size > max_len) {
                snprintf(msg, CIC_MSG_LEN, "ICC profile of %u bytes exceeds %zu bytes", size, max_len);
                return CIC_LIMIT;
            }
            if (size > end - at - 8) { webp_msg(msg, "truncated ICCP chunk"); return CIC_CORRUPT; }
            if (size == 0) { webp_msg(msg, "empty ICCP chunk"); return CIC_CORRUPT; }
            uint8_t *copy = malloc(size);
            if (!copy) { webp_msg(msg, "out of memory"); return CIC_NOMEM; }
            memcpy(copy, data + at + 8, size);
            *out = copy;
            *out_len = size;
            return CIC_OK;
        }
        // The image data comes after any ICCP chunk (the WebP container's order): stop there.
        if (memcmp(data + at, "VP8 ", 4) == 0 || memcmp(data + at, "VP8L", 4) == 0 ||
            memcmp(data + at, "ANMF", 4) == 0)
            break;
        size_t padded = (size_t)size + (size & 1);
        if (padded > end - at - 8) break;
        at += 8 + padded;
    }
    return CIC_OK;
}
