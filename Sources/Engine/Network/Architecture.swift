/// A feature tap: the ReLU after the first convolution of a VGG block. Its stride is 2^(block−1) and for an
/// h×w input it has size (⌊h/stride⌋, ⌊w/stride⌋), the floor rule of the 2×2/2 max-pools.
public enum Tap: String, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case relu1_1, relu2_1, relu3_1, relu4_1, relu5_1

    /// 1-based VGG block.
    public var block: Int {
        switch self {
        case .relu1_1: 1
        case .relu2_1: 2
        case .relu3_1: 3
        case .relu4_1: 4
        case .relu5_1: 5
        }
    }

    public var stride: Int { 1 << (block - 1) }

    /// The tap's spatial size for an input of `height`×`width`.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        var h = height, w = width
        for _ in 1..<block { h /= 2; w /= 2 }
        return (h, w)
    }

    public var description: String { rawValue }

    public static func < (a: Tap, b: Tap) -> Bool { a.block < b.block }
}

/// One step of a VGG feature stack. The network is this list, so other depths (VGG-19) load the same way.
public enum LayerSpec: Sendable, Equatable {
    /// 3×3 convolution, stride 1, zero padding 1, with bias; `name` is the weights' prefix (conv{b}_{c}).
    case conv(name: String, inChannels: Int, outChannels: Int)
    /// ReLU; `tap` names it when it is a feature tap.
    case relu(tap: Tap?)
    /// 2×2 max-pooling with stride 2 (floor sizes).
    case maxPool
}

/// How an RGB [0,1] image becomes the network's input: input channel k = RGB plane `source(k)` × `scale(k)`
/// − `offset(k)`. The backward pass is the same affine map's transpose: d/dRGB[source(k)] = scale(k) · d/dk.
public enum Preprocessing: String, Sendable, CaseIterable {
    /// Caffe/Keras VGG (the original Oxford weights): BGR order, ×255, minus the mean
    /// (B,G,R) = (103.939, 116.779, 123.68).
    case caffeBGR = "caffe-bgr"
    /// torchvision's VGG: RGB order, (x − mean) / std with the ImageNet mean (0.485, 0.456, 0.406) and std
    /// (0.229, 0.224, 0.225).
    case torchRGB = "torch-rgb"

    /// The RGB plane that feeds input channel `k`.
    public func source(_ k: Int) -> Int {
        switch self {
        case .caffeBGR: 2 - k
        case .torchRGB: k
        }
    }

    public func scale(_ k: Int) -> Float {
        switch self {
        case .caffeBGR: 255
        case .torchRGB: 1 / Self.imageNetStdRGB[k]
        }
    }

    public func offset(_ k: Int) -> Float {
        switch self {
        case .caffeBGR: Self.caffeMeanBGR[k]
        case .torchRGB: Self.imageNetMeanRGB[k] / Self.imageNetStdRGB[k]
        }
    }

    private static let caffeMeanBGR: [Float] = [103.939, 116.779, 123.68]
    private static let imageNetMeanRGB: [Float] = [0.485, 0.456, 0.406]
    private static let imageNetStdRGB: [Float] = [0.229, 0.224, 0.225]
}

public struct Architecture: Sendable, Equatable {
    public let name: String
    public let layers: [LayerSpec]

    public init(name: String, layers: [LayerSpec]) {
        self.name = name
        self.layers = layers
    }

    /// Builds a VGG stack from convolutions per block and channels per block (pool after every block but
    /// the last, since no tap needs it).
    public static func vgg(name: String, convsPerBlock: [Int], channels: [Int]) -> Architecture {
        var layers: [LayerSpec] = []
        var inChannels = 3
        for (b, (n, out)) in zip(convsPerBlock, channels).enumerated() {
            let block = b + 1
            if block > 1 { layers.append(.maxPool) }
            for c in 1...n {
                layers.append(.conv(name: "conv\(block)_\(c)", inChannels: inChannels, outChannels: out))
                layers.append(.relu(tap: c == 1 ? Tap.allCases.first { $0.block == block } : nil))
                inChannels = out
            }
        }
        return Architecture(name: name, layers: layers)
    }

    public static let vgg16 = vgg(name: "vgg16", convsPerBlock: [2, 2, 3, 3, 3], channels: [64, 128, 256, 512, 512])
    public static let vgg19 = vgg(name: "vgg19", convsPerBlock: [2, 2, 4, 4, 4], channels: [64, 128, 256, 512, 512])

    public static let all = [vgg16, vgg19]

    public static func named(_ name: String) -> Architecture? {
        all.first { $0.name == name }
    }

    /// The architecture the `conv{b}_{c}` tensor names show: VGG-19 has a fourth convolution in blocks 3–5
    /// (conv3_4, conv4_4, conv5_4), VGG-16 does not. Missing or misshapen tensors are the loader's to report.
    public static func recognised(tensorNames: some Collection<String>) -> Architecture {
        let names = Set(tensorNames)
        return ["conv3_4", "conv4_4", "conv5_4"].contains { names.contains("\($0).weight") } ? vgg19 : vgg16
    }

    /// Index of the ReLU layer producing `tap`.
    public func layerIndex(of tap: Tap) -> Int? {
        layers.firstIndex { $0 == .relu(tap: tap) }
    }

    /// Convolution layers in order: (name, in, out).
    public var convolutions: [(name: String, inChannels: Int, outChannels: Int)] {
        layers.compactMap {
            if case let .conv(name, i, o) = $0 { (name, i, o) } else { nil }
        }
    }

    /// 2·MACs of the convolutions up to and including `tap` for an h×w input (the direct-convolution count).
    public func convolutionFLOPs(height: Int, width: Int, to tap: Tap) -> Double {
        guard let last = layerIndex(of: tap) else { return 0 }
        var h = height, w = width, flops = 0.0
        for layer in layers[...last] {
            switch layer {
            case let .conv(_, i, o): flops += 2 * Double(h * w) * Double(i * o * 9)
            case .maxPool: h /= 2; w /= 2
            case .relu: break
            }
        }
        return flops
    }
}
