"""Formats and colour end to end, against independent implementations: a Display P3 JPEG, a PNG with iCCP
and a WebP with ICCP, made with Pillow around a P3 profile that lcms2 builds, go through the running
server (method=scale at their own size, which resamples nothing); the answer must match lcms2's own
transform of the same pixels (Pillow's ImageCms, its bundled lcms2, not the service's). WebP answers are
read back with Pillow's libwebp; GIF, AVIF and animated WebP get a 415 that names the accepted formats."""
import ctypes
import ctypes.util
import io
import urllib.error
import urllib.request

import pytest
from PIL import Image, ImageCms, features

WIDTH, HEIGHT = 96, 64


def p3_profile() -> bytes:
    """Display P3 (P3 primaries, D65 white, sRGB tone curve) built by the system's lcms2."""
    path = ctypes.util.find_library("lcms2") or "liblcms2.so.2"
    lcms = ctypes.CDLL(path)

    class XyY(ctypes.Structure):
        _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("Y", ctypes.c_double)]

    class Triple(ctypes.Structure):
        _fields_ = [("red", XyY), ("green", XyY), ("blue", XyY)]

    lcms.cmsBuildParametricToneCurve.restype = ctypes.c_void_p
    lcms.cmsBuildParametricToneCurve.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_double)]
    lcms.cmsCreateRGBProfile.restype = ctypes.c_void_p
    lcms.cmsCreateRGBProfile.argtypes = [ctypes.POINTER(XyY), ctypes.POINTER(Triple), ctypes.c_void_p * 3]
    lcms.cmsSaveProfileToMem.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
    lcms.cmsCloseProfile.argtypes = [ctypes.c_void_p]
    lcms.cmsFreeToneCurve.argtypes = [ctypes.c_void_p]
    params = (ctypes.c_double * 5)(2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
    curve = lcms.cmsBuildParametricToneCurve(None, 4, params)
    white = XyY(0.3127, 0.3290, 1.0)
    primaries = Triple(XyY(0.680, 0.320, 1.0), XyY(0.265, 0.690, 1.0), XyY(0.150, 0.060, 1.0))
    profile = lcms.cmsCreateRGBProfile(ctypes.byref(white), ctypes.byref(primaries), (ctypes.c_void_p * 3)(curve, curve, curve))
    size = ctypes.c_uint32(0)
    assert lcms.cmsSaveProfileToMem(profile, None, ctypes.byref(size))
    buffer = ctypes.create_string_buffer(size.value)
    assert lcms.cmsSaveProfileToMem(profile, buffer, ctypes.byref(size))
    lcms.cmsCloseProfile(profile)
    lcms.cmsFreeToneCurve(curve)
    return buffer.raw[: size.value]


def swatches() -> Image.Image:
    """Gradients, greys and saturated colours (where P3 and sRGB differ most)."""
    image = Image.new("RGB", (WIDTH, HEIGHT))
    pixels = image.load()
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255),
               (128, 128, 128), (200, 80, 40), (30, 160, 90), (250, 220, 200), (10, 10, 10), (255, 255, 255)]
    for y in range(HEIGHT):
        for x in range(WIDTH):
            if y < 16:
                pixels[x, y] = colours[x // 8 % len(colours)]
            else:
                pixels[x, y] = (x * 255 // (WIDTH - 1), y * 255 // (HEIGHT - 1), (x + y) * 255 // (WIDTH + HEIGHT - 2))
    return image


def post(server, query: str, body: bytes, headers=None):
    request = urllib.request.Request(f"{server.url}/resize?{query}", data=body, method="POST",
                                     headers={"Content-Type": "application/octet-stream", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def lcms_to_srgb(image: Image.Image, profile: bytes) -> Image.Image:
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"),
                                     renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB")


def differences(a: Image.Image, b: Image.Image) -> tuple[int, float]:
    pa, pb = a.convert("RGB").tobytes(), b.convert("RGB").tobytes()
    assert len(pa) == len(pb)
    d = [abs(x - y) for x, y in zip(pa, pb)]
    return max(d), sum(d) / len(d)


@pytest.mark.parametrize("container", ["jpeg", "png", "webp"])
def test_display_p3_is_converted_like_lcms2(server, container):
    profile = p3_profile()
    buffer = io.BytesIO()
    if container == "jpeg":
        # 4:4:4 at quality 95: both libjpeg-turbos (Pillow's and the service's) decode it to the same pixels.
        swatches().save(buffer, "JPEG", quality=95, subsampling=0, icc_profile=profile)
    elif container == "png":
        swatches().save(buffer, "PNG", icc_profile=profile)  # iCCP, zlib-compressed
    else:
        swatches().save(buffer, "WEBP", lossless=True, icc_profile=profile)  # VP8X + ICCP chunk
    tagged = buffer.getvalue()
    decoded = Image.open(io.BytesIO(tagged))
    assert decoded.info.get("icc_profile") == profile
    decoded = decoded.convert("RGB")
    expected = lcms_to_srgb(decoded, profile)
    status, headers, body = post(server, f"w={WIDTH}&h={HEIGHT}&method=scale&format=png", tagged)
    assert status == 200, body
    answer = Image.open(io.BytesIO(body))
    assert answer.size == (WIDTH, HEIGHT)
    worst, mean = differences(answer, expected)
    # Measured: identical (0, 0.0) for all three; one level of slack for another lcms2 version.
    assert worst <= 1 and mean < 0.05, (container, worst, mean)
    # The conversion did something: P3's colours are not sRGB's numbers.
    unconverted_worst, unconverted_mean = differences(answer, decoded)
    assert unconverted_worst > 20 and unconverted_mean > 1, (unconverted_worst, unconverted_mean)


def test_webp_answers_read_back_with_pillow(server):
    image = swatches().convert("RGBA")
    alpha = Image.linear_gradient("L").resize((WIDTH, HEIGHT)).rotate(90)
    image.putalpha(alpha)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    status, headers, body = post(server, "w=48&h=32&method=scale&format=webp&quality=80", buffer.getvalue())
    assert status == 200 and headers["Content-Type"] == "image/webp", body
    assert body[:4] == b"RIFF" and body[8:12] == b"WEBP"
    answer = Image.open(io.BytesIO(body))
    assert answer.format == "WEBP" and answer.size == (48, 32) and answer.mode == "RGBA"
    assert answer.getextrema()[3][0] < 40 and answer.getextrema()[3][1] > 215
    # Accept alone picks WebP (and says it varies), curl-like */* keeps PNG.
    status, headers, body = post(server, "w=48&method=scale", buffer.getvalue(), {"Accept": "image/webp,*/*;q=0.8"})
    assert status == 200 and headers["Content-Type"] == "image/webp" and headers["Vary"] == "Accept"
    status, headers, body = post(server, "w=48&method=scale", buffer.getvalue(), {"Accept": "*/*"})
    assert headers["Content-Type"] == "image/png" and Image.open(io.BytesIO(body)).format == "PNG"


def test_quality_orders_sizes(server):
    buffer = io.BytesIO()
    swatches().resize((320, 240)).save(buffer, "PNG")
    for fmt in ("jpeg", "webp"):
        sizes = []
        for quality in (10, 50, 90, 100):
            status, headers, body = post(server, f"w=320&h=240&method=scale&format={fmt}&quality={quality}", buffer.getvalue())
            assert status == 200 and headers["Content-Type"] == f"image/{fmt}", body
            assert Image.open(io.BytesIO(body)).size == (320, 240)
            sizes.append(len(body))
        assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), (fmt, sizes)


def test_other_formats_get_415_naming_the_accepted_ones(server):
    inputs = {}
    gif = io.BytesIO()
    swatches().save(gif, "GIF")
    inputs["GIF"] = gif.getvalue()
    animated = io.BytesIO()
    frames = [swatches(), swatches().rotate(180)]
    frames[0].save(animated, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    inputs["animated WebP"] = animated.getvalue()
    if features.check("avif"):
        avif = io.BytesIO()
        swatches().save(avif, "AVIF")
        inputs["AVIF"] = avif.getvalue()
    else:
        inputs["AVIF"] = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"
    for name, data in inputs.items():
        status, headers, body = post(server, "w=10&method=scale", data)
        assert status == 415, (name, body)
        detail = body.decode()
        assert name in detail and "JPEG, PNG or WebP" in detail, detail
