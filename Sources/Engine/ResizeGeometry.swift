/// A width and a height in pixels.
public struct PixelSize: Sendable, Hashable, CustomStringConvertible {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    public var area: Int { width * height }
    public var description: String { "\(width)×\(height)" }
}

/// How a content-aware method (`seam`, `deep`) splits a resize: a uniform scale of the source first, then a
/// content-aware change of only the axes whose ratio still differs.
///
/// The uniform factor is the one, among the two axes' factors, that changes the image least: clamped to
/// [min(fx, fy), max(fx, fy)] from 1. Shrinking both axes therefore scales to the size that covers the
/// target (the smaller reduction) and carves the rest off the other axis; growing both scales up to the
/// axis that grows least and inserts on the other; one growing and one shrinking keeps the source's scale.
/// A request that keeps the aspect ratio is a plain uniform scale: nothing is left for the content-aware
/// step. Without this split a 4:3 camera photo asked at 400×300 would have 90 % of each axis carved away,
/// which recomposes the picture instead of shrinking it.
public struct ResizeGeometry: Sendable, Equatable {
    public let source: PixelSize
    public let target: PixelSize
    /// The uniformly scaled image the content-aware step starts from (the target when nothing is left).
    public let working: PixelSize

    /// A side of the scaled image within this many pixels of the target's counts as the target's: a
    /// 1 % (or 1 px) change of aspect is invisible, and carving it would cost a reconstruction for nothing.
    public static func tolerance(forTargetSide side: Int) -> Int { max(1, side / 100) }

    /// - Parameters:
    ///   - maxWorkingPixels: the working image's largest area (its memory grows with it): a larger one is
    ///     scaled down further, which leaves both axes to the content-aware step.
    ///   - minimumWorkingSide: the content-aware step's smallest side (the deep method's network needs
    ///     16 px for its mask layer); a smaller working image is scaled up to it.
    public init(source: PixelSize, target: PixelSize, maxWorkingPixels: Int? = nil, minimumWorkingSide: Int = 1) {
        precondition(source.width > 0 && source.height > 0 && target.width > 0 && target.height > 0,
                     "geometry of an empty image")
        self.source = source
        self.target = target
        let fx = Double(target.width) / Double(source.width)
        let fy = Double(target.height) / Double(source.height)
        var factor = min(max(1, min(fx, fy)), max(fx, fy))
        func scaled(_ f: Double) -> PixelSize {
            PixelSize(width: max(1, Int((Double(source.width) * f).rounded())),
                      height: max(1, Int((Double(source.height) * f).rounded())))
        }
        var size = scaled(factor)
        if abs(size.width - target.width) <= Self.tolerance(forTargetSide: target.width) { size.width = target.width }
        if abs(size.height - target.height) <= Self.tolerance(forTargetSide: target.height) { size.height = target.height }
        if size != target {
            if let maxWorkingPixels, size.area > maxWorkingPixels {
                factor *= (Double(maxWorkingPixels) / Double(size.area)).squareRoot()
                size = scaled(factor)
                // Rounding may overshoot by a row or a column.
                while size.area > maxWorkingPixels && size.width > 1 && size.height > 1 {
                    factor *= 0.999
                    size = scaled(factor)
                }
            }
            if min(size.width, size.height) < minimumWorkingSide {
                factor *= Double(minimumWorkingSide) / Double(min(size.width, size.height))
                size = scaled(factor)
                size.width = max(size.width, minimumWorkingSide)
                size.height = max(size.height, minimumWorkingSide)
            }
        }
        working = size
    }

    /// A geometry with a working size chosen elsewhere (the reference's, which scales only to fit a limit).
    public init(source: PixelSize, target: PixelSize, working: PixelSize) {
        self.source = source
        self.target = target
        self.working = working
    }

    /// True when the uniform scale already gives the target: no content-aware step is left.
    public var isUniform: Bool { working == target }
    /// The axes the content-aware step changes.
    public var changesWidth: Bool { working.width != target.width }
    public var changesHeight: Bool { working.height != target.height }
}
