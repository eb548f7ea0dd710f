import HTTPCore

/// How the image of `POST /resize` arrives: as a multipart form field `image` or as the raw body. Anything
/// else, and a body with a `Content-Encoding`, is refused from the head, before the client uploads (and
/// before `100 Continue`).
enum Upload: Sendable, Equatable {
    case multipart, raw

    /// The upload a head announces, or the 415 that says how to send it.
    init(_ head: HTTPRequestHead) throws(Problem) {
        // Two media types for one body: which one the client meant cannot be known (RFC 9110 §5.3).
        guard head.headers.values("Content-Type").count <= 1 else { throw .badRequest("more than one Content-Type header") }
        let contentType = head.headers["Content-Type"] ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingSpaces.lowercased() } ?? ""
        switch mediaType {
        case "multipart/form-data": self = .multipart
        case "image/jpeg", "image/png", "image/webp", "application/octet-stream": self = .raw
        default:
            throw .unsupportedMedia("send the image as multipart/form-data field 'image' (curl -F image=@photo.jpg) or as a raw image/jpeg, image/png or image/webp body, not '\(contentType)'")
        }
        try Self.checkContentEncoding(head)
    }

    /// Bodies come as they are: a `Content-Encoding` (gzip, deflate, br …) would have to be undone before the
    /// image could be judged, so it is refused from the head with 415 (RFC 9110 §15.5.16), body unread.
    private static func checkContentEncoding(_ head: HTTPRequestHead) throws(Problem) {
        let codings = head.headers.values("Content-Encoding")
            .flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces.lowercased() }.filter { !$0.isEmpty }
        guard let coding = codings.first(where: { $0 != "identity" }) else { return }
        var problem = Problem.unsupportedMedia("Content-Encoding '\(coding)' is not accepted: send the image bytes as they are (JPEG and PNG are compressed already)")
        problem.headers = [("Accept-Encoding", "identity")]
        throw problem
    }

    /// The image: the one multipart field `image`, or the raw body. Never empty.
    func imageBytes(of request: HTTPRequest) throws(Problem) -> [UInt8] {
        let bytes: [UInt8]
        switch self {
        case .multipart:
            let parts: [MultipartPart]
            do {
                parts = try Multipart.parse(body: request.body, contentType: request.head.headers["Content-Type"] ?? "")
            } catch {
                throw Problem(status: error.status, title: HTTPResponse.reasonPhrase(for: error.status),
                              detail: "malformed multipart body: \(error.detail)")
            }
            let images = parts.filter { $0.name == "image" }
            guard images.count == 1 else {
                throw .badRequest(images.isEmpty ? "the multipart form has no field named 'image'"
                                                 : "the multipart form has \(images.count) fields named 'image'; send one")
            }
            bytes = images[0].body
        case .raw:
            bytes = request.body
        }
        guard !bytes.isEmpty else { throw .badRequest("the image is empty") }
        return bytes
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
