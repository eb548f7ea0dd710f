// FNV-1a, 64 bit: the service's one content fingerprint (the weights file in the start-up log, the ETag of
// every image answer). Short and fast; not a checksum against tampering (scripts/fetch-weights checks sha256).

/// FNV-1a 64 of `bytes`.
func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    return hash
}

/// FNV-1a 64 of `bytes`, as 16 lowercase hex digits (zero-padded, so equal lengths for every input).
func fnv1a64Hex(_ bytes: [UInt8]) -> String {
    hex16(bytes.withUnsafeBytes { fnv1a64($0) })
}

/// `value` as 16 lowercase hex digits.
func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
