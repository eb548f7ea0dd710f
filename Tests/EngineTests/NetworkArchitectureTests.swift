import Testing
@testable import Engine

/// The network is a layer list: VGG-16 and VGG-19 differ only in data.
@Suite struct NetworkArchitectureTests {
    @Test func vgg16And19LayerLists() {
        #expect(Architecture.vgg16.convolutions.count == 13)
        #expect(Architecture.vgg19.convolutions.count == 16)
        for arch in [Architecture.vgg16, .vgg19] {
            // Taps are the ReLUs after conv{b}_1, pools sit between blocks.
            for tap in Tap.allCases {
                let i = try! #require(arch.layerIndex(of: tap))
                #expect(arch.layers[i - 1] == .conv(name: "conv\(tap.block)_1",
                                                   inChannels: tap.block == 1 ? 3 : [64, 128, 256, 512][tap.block - 2],
                                                   outChannels: [64, 128, 256, 512, 512][tap.block - 1]))
                if tap.block > 1 { #expect(arch.layers[i - 2] == .maxPool) }
            }
            #expect(arch.layers.filter { $0 == .maxPool }.count == 4)
        }
        #expect(Architecture.named("vgg19") == .vgg19 && Architecture.named("resnet") == nil)
    }

    @Test func convolutionFLOPsMatchTheDirectCount() {
        // 400×300 to relu4_1: the figure torch_vgg.py uses (conv layers only, 2·MACs).
        let flops = Architecture.vgg16.convolutionFLOPs(height: 300, width: 400, to: .relu4_1)
        var expected = 0.0
        for (hw, c, o) in [(120_000, 3, 64), (120_000, 64, 64), (30_000, 64, 128), (30_000, 128, 128),
                           (7_500, 128, 256), (7_500, 256, 256), (7_500, 256, 256), (1_850, 256, 512)] {
            expected += 2 * 9 * Double(hw * c * o)
        }
        #expect(flops == expected)
        #expect(abs(flops / 1e9 - 49.0) < 1)
    }
}
