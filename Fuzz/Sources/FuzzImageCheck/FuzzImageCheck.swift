// The decode oracle shared by FuzzJPEG, FuzzPNG and FuzzWebP.
public import ImageCodecs
import FuzzSupport

/// Small limits so a forged header cannot make the decoder allocate much.
public let fuzzLimits = DecodeLimits(maxPixels: 1 << 18, maxDimension: 2048)

/// readHeader, then decode (full size, or shrink-on-load chosen by `selector`). Never crashes; a decoded
/// image has the size the header promised (or a DCT-scaled one covering the requested minimum); the only
/// errors are "corrupt" of the same format and "exceeds limits" (and, for WebP, "unsupported": an
/// animation).
public func decodeAndCheck(_ bytes: [UInt8], selector: UInt8, format: ImageFormat) {
    let header: ImageHeader
    do {
        header = try ImageDecoder.readHeader(bytes)
    } catch let error as ImageCodecError {
        switch error {
        case .corrupt(let f, _) where f == format: return
        case .unsupported where format == .webp: return
        default: fuzzFailure("readHeader: unexpected \(error)")
        }
    } catch {
        fuzzFailure("readHeader threw a foreign error \(error)")
    }
    if header.format != format || header.width <= 0 || header.height <= 0 { fuzzFailure("bad header \(header)") }
    let minimum: (width: Int, height: Int)? = selector & 1 == 0 ? nil
        : (max(1, header.width * Int(selector >> 1 & 7 + 1) / 8), max(1, header.height * Int(selector >> 4 & 7 + 1) / 8))
    do {
        let image = try ImageDecoder.decode(bytes, limits: fuzzLimits, minimumSize: minimum)
        if image.pixels.count != image.width * image.height * image.channels { fuzzFailure("pixel count") }
        if let minimum {
            if image.width < minimum.width || image.height < minimum.height || image.width > header.width
                || image.height > header.height {
                fuzzFailure("scaled \(image.width)x\(image.height) for minimum \(minimum) of \(header.width)x\(header.height)")
            }
        } else if image.width != header.width || image.height != header.height {
            fuzzFailure("decoded \(image.width)x\(image.height), header said \(header.width)x\(header.height)")
        }
        if format == .jpeg && image.channels != 3 { fuzzFailure("JPEG with \(image.channels) channels") }
        if format == .png && image.channels != (header.hasAlpha ? 4 : 3) { fuzzFailure("PNG channels") }
        if format == .webp && image.channels != (header.hasAlpha ? 4 : 3) { fuzzFailure("WebP channels") }
    } catch let error as ImageCodecError {
        switch error {
        case .corrupt(let f, _) where f == format: break
        case .exceedsLimits: break
        case .unsupported where format == .webp: break
        default: fuzzFailure("decode: unexpected \(error)")
        }
    } catch {
        fuzzFailure("decode threw a foreign error \(error)")
    }
}
