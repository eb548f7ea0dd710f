import Testing
import Engine

/// `.featureSpec` against the reference's `find_seams` (bench/reference/deep_resize_ref.py).
///
/// The expected masks were generated once, 2026-11-25, with the peer venv's Python (numpy float64), by this
/// script; the fields come from the same LCG in Swift, so no Python is needed here:
///
/// ```python

/// import sys
/// sys.path.insert(0, "/work/shared/bench/reference")
/// import numpy as np
/// from deep_resize_ref import find_seams
///
/// def lcg(seed, n):
///     out, s = [], seed
///     for _ in range(n):
///         s = (1664525 * s + 1013904223) % 2**32
///         out.append(s)
///     return out
///
/// def field(seed, h, w, levels):
///     r = lcg(seed, 2 * h * w)
///     a = np.array([(v >> 8) % levels / levels for v in r[:h * w]], dtype=np.float64).reshape(h, w)
///     m = np.array([(v >> 8) % 100 < 15 for v in r[h * w:]]).reshape(h, w)
///     return a, m
///
/// cases = [("random", 11, 9, 12, 4096, 5, True), ("coarseTies", 5, 8, 10, 4, 4, False),
///          ("masked", 23, 14, 16, 1024, 7, True), ("tall", 42, 20, 7, 65536, 3, False)]
/// for name, seed, h, w, levels, k, use_mask in cases:
///     a, m = field(seed, h, w, levels)
///     if not use_mask:
///         m[:] = False
///     rem = find_seams(a, m, k)
///     remT = find_seams(a.T.copy(), m.T.copy(), k).T  # height pass, as carve_width on the transposed maps
///     print(name, seed, h, w, levels, k, use_mask)
///     print("  vertical:   " + " ".join("".join("1" if v else "0" for v in row) for row in rem))
///     print("  horizontal: " + " ".join("".join("1" if v else "0" for v in row) for row in remT))
/// ```
struct ReferenceSeamCase: Sendable, CustomTestStringConvertible {
    let name: String
    let seed: UInt32
    let height: Int
    let width: Int
    let levels: UInt32
    let seams: Int
    let masked: Bool
    let vertical: String
    let horizontal: String
    var testDescription: String { name }

    /// The generator's `field(seed, h, w, levels)`: values (v >> 8) % levels / levels, mask (v >> 8) % 100 < 15.
    func field() -> (a: [Double], penalty: [Double]?) {
        var rng = SeamLCG(state: seed)
        let n = width * height
        let a = (0..<n).map { _ in Double((rng.next() >> 8) % levels) / Double(levels) }
        let m = (0..<n).map { _ in (rng.next() >> 8) % 100 < 15 }
        return (a, masked ? m.map { $0 ? 1000 : 0 } : nil)
    }

    static func mask(_ text: String) -> [Bool] { text.split(separator: " ").flatMap { $0.map { $0 == "1" } } }
}

let referenceSeamCases: [ReferenceSeamCase] = [
    ReferenceSeamCase(name: "random", seed: 11, height: 9, width: 12, levels: 4096, seams: 5, masked: true,
                      vertical: "000001101110 000010111010 000100011101 000100011011 000010011101 000100110101 000101100101 000110100110 000011100101",
                      horizontal: "011111111100 100000000010 000000110001 111111001111 100011111111 011100000001 100001000110 011110111010 111111111101"),
    ReferenceSeamCase(name: "coarseTies", seed: 5, height: 8, width: 10, levels: 4, seams: 4, masked: false,
                      vertical: "1010000110 1010000101 1001001001 1001010010 1001010010 1010010001 1010100001 1100100001",
                      horizontal: "1000000010 0110000101 0001111000 0000000000 0000000000 1111111111 1111111111 1111111111"),
    ReferenceSeamCase(name: "masked", seed: 23, height: 14, width: 16, levels: 1024, seams: 7, masked: true,
                      vertical: "1110001011010000 1110000111010000 1110001110001000 1110001110001000 0111010110001000 0111010011001000 0111100011000100 0111100011000010 0101110001100010 0101110010010001 1001110010010001 0111010001010001 0111100001010001 1110100001010001",
                      horizontal: "0000011111110010 1111100000001111 1100000000011101 0010000000100111 1111110011001000 1111111100010000 0001111111100000 0011001111100000 0100100001111110 1000010110010001 0000001000001000 0000011000000111 1111101111111111 1111110111111111"),
    ReferenceSeamCase(name: "tall", seed: 42, height: 20, width: 7, levels: 65536, seams: 3, masked: false,
                      vertical: "0100011 0010011 0010011 0001011 0000111 0000111 0000111 0000111 0000111 0000111 0000111 0000111 0000111 0000111 0000111 0000111 0000111 0000111 0000111 0000111",
                      horizontal: "0000000 0000000 0000000 0000000 0000000 0000000 0000000 0000000 0000000 0000000 0000000 0000000 0000000 0000000 0000000 0000000 0000000 1111111 1111111 1111111"),
]

@Suite struct SeamReferenceTests {
    @Test(arguments: referenceSeamCases)
    func featureSpecMatchesReferenceFindSeams(_ c: ReferenceSeamCase) throws {
        let (a, penalty) = c.field()
        let vertical = try SeamSearch.removeSeams(from: a, width: c.width, height: c.height, penalty: penalty,
                                                  count: c.seams, rule: .featureSpec)
        #expect(vertical.removed == ReferenceSeamCase.mask(c.vertical))
        // The reference's height pass: find_seams on the transposed maps.
        let horizontal = try SeamSearch.removeSeams(from: a, width: c.width, height: c.height, penalty: penalty,
                                                    count: c.seams, rule: .featureSpec, direction: .horizontal)
        #expect(horizontal.removed == ReferenceSeamCase.mask(c.horizontal))
    }

    @Test func floatFieldWidensToDoubleForTheSpecRule() throws {
        // Values exactly representable in Float: the Float overload must give the Double result.
        let c = referenceSeamCases[1]
        let (a, _) = c.field()
        let r = try SeamSearch.removeSeams(from: a.map { Float($0) }, width: c.width, height: c.height,
                                           count: c.seams, rule: .featureSpec)
        #expect(r.removed == ReferenceSeamCase.mask(c.vertical))
    }
}
