import Testing
import Engine

/// `.featureSpec` against the reference's `find_seams` (bench/reference/deep_resize_ref.py).
///
/// The expected masks were generated once, 2026-11-25, with the peer venv's Python (numpy float64), by this
/// script; the fields come from the same LCG in Swift, so no Python is needed here:
///
/// ```python

/// import sys
/// sys.path.insert(0, KIT + "/reference")  # KIT: the peer kit's folder
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

/// docs/spec.md §3's two passes (`SeamSearch.featureSeams`) against the reference's `seam_resize_features` /
/// `carve_width` seam logic. Expected masks generated once, 2026-11-25, with the peer venv's Python by:
///
/// ```python
/// import sys
/// sys.path.insert(0, KIT + "/reference")  # KIT: the peer kit's folder
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
/// # seam_resize_features' seam part: A = mean / max, width seams, carve A and M, height seams on A.T.
/// for seed, h, w, th, tw in [(3, 10, 13, 7, 9), (8, 12, 9, 12, 6), (21, 9, 11, 5, 11)]:
///     r = lcg(seed, 2 * h * w)
///     A = np.array([np.float32(((v >> 8) % 65536) / 4096.0) for v in r[:h * w]], dtype=np.float32).reshape(h, w)
///     M = np.array([(v >> 8) % 100 < 12 for v in r[h * w:]]).reshape(h, w)
///     A = A.astype(np.float64)
///     A = A / max(A.max(), 1e-12)
///     rw = rh = None
///     if w - tw > 0:
///         rw = find_seams(A, M, w - tw)
///         A, M = A[~rw].reshape(h, -1), M[~rw].reshape(h, -1)
///     if h - th > 0:
///         rh = find_seams(A.T.copy(), M.T.copy(), h - th).T
///     s = lambda m: "nil" if m is None else '"' + " ".join("".join("1" if v else "0" for v in row) for row in m) + '"'
///     print(seed, h, w, th, tw)
///     print("  width:  " + s(rw))
///     print("  height: " + s(rh))
/// ```
struct ReferencePlanCase: Sendable, CustomTestStringConvertible {
    let seed: UInt32
    let height: Int
    let width: Int
    let targetHeight: Int
    let targetWidth: Int
    let widthMask: String?
    let heightMask: String?
    var testDescription: String { "seed \(seed) \(width)×\(height) → \(targetWidth)×\(targetHeight)" }

    func inputs() -> (a: [Float], mask: [Bool]) {
        var rng = SeamLCG(state: seed)
        let n = width * height
        let a = (0..<n).map { _ in Float((rng.next() >> 8) % 65536) / 4096 }
        let m = (0..<n).map { _ in (rng.next() >> 8) % 100 < 12 }
        return (a, m)
    }
}

let referencePlanCases: [ReferencePlanCase] = [
    ReferencePlanCase(seed: 3, height: 10, width: 13, targetHeight: 7, targetWidth: 9,
                      widthMask: "0000100001110 0000100000111 0000100000111 0001000000111 0001000001011 0001000001101 0001000001011 0001000001011 0001000001011 0010000001011",
                      heightMask: "111111100 000000010 000010001 111101000 000000110 000000001 000000000 000000000 000000100 111111011"),
    ReferencePlanCase(seed: 8, height: 12, width: 9, targetHeight: 12, targetWidth: 6,
                      widthMask: "010101000 010101000 010010100 010001100 010000110 010000011 001000011 001000011 001000101 001000011 001000011 001000011",
                      heightMask: nil),
    ReferencePlanCase(seed: 21, height: 9, width: 11, targetHeight: 5, targetWidth: 11,
                      widthMask: nil,
                      heightMask: "11000000000 11111111110 00110000011 00001111101 00000000000 00000000001 00011000110 11110111000 11101111111"),
]

@Suite struct FeatureSeamPlanTests {
    @Test(arguments: referencePlanCases)
    func planMatchesReferenceSeamResizeFeatures(_ c: ReferencePlanCase) throws {
        let (a, mask) = c.inputs()
        let plan = try SeamSearch.featureSeams(meanActivation: a, mask: mask, width: c.width, height: c.height,
                                               targetWidth: c.targetWidth, targetHeight: c.targetHeight)
        #expect(plan.width?.removed == c.widthMask.map(ReferenceSeamCase.mask))
        #expect(plan.height?.removed == c.heightMask.map(ReferenceSeamCase.mask))
        if let h = plan.height {
            #expect(h.width == min(c.width, c.targetWidth) && h.height == c.height)
            #expect(h.remainingHeight == c.targetHeight)
        }
        #expect(plan.width?.remainingWidth ?? c.width == min(c.width, c.targetWidth))
    }

    @Test func keepingCarvesCompanionPlanesAlongTheSeams() throws {
        // Plane values = their own original index, so the kept values say exactly which cells survived.
        let (w, h) = (7, 5)
        let field = texturedField(width: w, height: h, band: 2..<5, seed: 4)
        let index = Array(0..<(w * h))
        let vertical = try SeamSearch.removeSeams(from: field, width: w, height: h, count: 2, rule: .featureSpec)
        let keptV = try vertical.keeping(index)
        #expect(keptV.count == 5 * h)
        #expect(keptV == index.filter { !vertical.removed[$0] })
        let horizontal = try SeamSearch.removeSeams(from: field, width: w, height: h, count: 2, rule: .featureSpec,
                                                    direction: .horizontal)
        let keptH = try horizontal.keeping(index)
        #expect(keptH.count == w * 3)
        for x in 0..<w {
            let column = (0..<3).map { keptH[$0 * w + x] }
            #expect(column == (0..<h).map { $0 * w + x }.filter { !horizontal.removed[$0] })
        }
        #expect(throws: SeamSearchError.self) { try vertical.keeping([1, 2, 3]) }
    }
}
