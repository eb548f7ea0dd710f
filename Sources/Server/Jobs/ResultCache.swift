import Crypto
import Engine

/// The result cache's key (docs/api.md "Result cache"): one SHA-256 over everything a queued job's output
/// depends on — the engine version (`EngineVersion.current`), the settings and weights (`identity`), the method, the
/// canonical parameters and the input bytes. Two submissions with equal keys would make equal bytes, so the
/// second is answered with a copy of the first's stored result (`JobStore.reuseCachedResult`).
enum ResultCache {
    /// `identity`: what else the output depends on that the request does not say (`ResizePipeline.cacheIdentity`,
    /// and the client's token).
    static func key(identity: String, method: ResizeMethod, params: JobParams, input: [UInt8]) throws -> String {
        let head = "deepresize result cache\nengine \(EngineVersion.current)\n\(identity)\nmethod \(method.rawValue)\n"
        // `JobParams` holds only what the method uses, with every default filled in
        // (`JobParams.init(_:width:height:)`), so equal requests give equal text.
        return sha256Hex([Array(head.utf8), try canonicalJSON(params), [0x0A], input])
    }
}

/// SHA-256 of the concatenation of `parts`, as 64 lowercase hex digits. SHA-256, not FNV-1a (the ETags'):
/// a key names another client's stored result, so it must resist deliberate collisions.
func sha256Hex(_ parts: [[UInt8]]) -> String {
    var hasher = SHA256()
    for part in parts { hasher.update(data: part) }
    let hex = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in hasher.finalize() { out.append(hex[Int(byte >> 4)]); out.append(hex[Int(byte & 15)]) }
    return String(decoding: out, as: UTF8.self)
}
