public import ImageCodecs

public enum SeamCarvingError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidTargetSize(width: Int, height: Int)

    public var description: String {
        switch self {
        case let .invalidTargetSize(w, h):
            "seam carving: target size \(w)×\(h) is not allowed (each side 1 … \(SeamCarving.maximumSide), "
                + "at most \(SeamCarving.maximumPixels) pixels)"
        }
    }
}

/// Classic pixel-space seam carving (`method=seam`, docs/methods.md) with forward energy on the luminance,
/// as the PyPI `seam-carving` package does with `energy_mode="forward"`, `order="width-first"`.
public enum SeamCarving {
    /// Largest side and pixel count `resize` accepts; callers enforce their own, usually tighter, limits.
    public static let maximumSide = 1 << 16
    public static let maximumPixels = 1 << 28

    /// Resizes `image` to `width × height` by removing (shrinking) or inserting (enlarging) seams,
    /// width first, then height (the same search on the transposed image).
    ///
    /// - Shrinking removes the k cheapest seams one after another.
    /// - Enlarging finds the k cheapest seams of the current image by successive removal, then inserts next
    ///   to each seam pixel a new pixel, the average (rounded down) of the seam pixel and its left (upper)
    ///   neighbour, so every inserted pixel is the average of its two neighbours in the output. At most
    ///   half the current size is inserted per round (more takes several rounds), so the same seam is not
    ///   stretched over and over.
    /// - Energy: forward energy on the luminance ⌊0.2125 R + 0.7154 G + 0.0721 B⌋ (the package's 8-bit grey).
    /// - Alpha (4 channels): the alpha plane is carried along with the seams, removed and averaged like the
    ///   colour channels, but does not contribute to the energy (colour channels only).
    /// - Progress: `StepProgress(step: seams done, total: all seams)` after every seam; cancellation is
    ///   checked between seams and throws `OperationCancelled`.
    public static func resize(_ image: RasterImage, width: Int, height: Int,
                              context: RunContext = .detached) throws -> RasterImage {
        guard width >= 1, height >= 1, width <= maximumSide, height <= maximumSide,
              width * height <= maximumPixels else {
            throw SeamCarvingError.invalidTargetSize(width: width, height: height)
        }
        var progress = SeamProgress(total: abs(width - image.width) + abs(height - image.height), context: context)
        var out = image
        if width != out.width {
            out = try resizeWidth(out, to: width, progress: &progress)
        }
        if height != out.height {
            out = PixelPlanes.transposed(try resizeWidth(PixelPlanes.transposed(out), to: height, progress: &progress))
        }
        return out
    }

    // MARK: - One axis

    static func resizeWidth(_ image: RasterImage, to target: Int, progress: inout SeamProgress) throws -> RasterImage {
        if target < image.width {
            return try shrinkWidth(image, by: image.width - target, progress: &progress)
        }
        var out = image
        var remaining = target - image.width
        while remaining > 0 {
            let step = SeamSearch.insertionStep(size: out.width, remaining: remaining)
            out = try enlargeWidth(out, by: step, progress: &progress)
            remaining -= step
        }
        return out
    }

    private static func shrinkWidth(_ image: RasterImage, by k: Int, progress: inout SeamProgress) throws -> RasterImage {
        let grid = PixelPlanes.luminanceGrid(image)
        for _ in 0..<k {
            try progress.beforeSeam()
            grid.removeCheapestSeam { _, _ in }
            progress.seamDone()
        }
        return PixelPlanes.gatherColumns(image, grid: grid)
    }

    private static func enlargeWidth(_ image: RasterImage, by k: Int, progress: inout SeamProgress) throws -> RasterImage {
        let grid = PixelPlanes.luminanceGrid(image)
        var duplicated = [Bool](repeating: false, count: image.width * image.height)
        let w = image.width
        for _ in 0..<k {
            try progress.beforeSeam()
            duplicated.withUnsafeMutableBufferPointer { marks in
                _ = grid.removeCheapestSeam { y, x in marks[y * w + x] = true }
            }
            progress.seamDone()
        }
        return PixelPlanes.insertingColumns(image, before: duplicated, count: k)
    }
}

/// Counts seams across both axes and all rounds for one `resize` call.
struct SeamProgress {
    let total: Int
    let context: RunContext
    private(set) var done = 0

    init(total: Int, context: RunContext) {
        self.total = total
        self.context = context
    }

    func beforeSeam() throws { try context.checkCancelled() }

    mutating func seamDone() {
        done += 1
        context.report(StepProgress(step: done, total: total))
    }
}
