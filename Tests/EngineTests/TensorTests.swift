import ImageCodecs
import Testing
@testable import Engine

@Suite struct TensorTests {
    @Test func storageIsAlignedZeroedAndCHW() {
        let t = Tensor(channels: 3, height: 5, width: 7)
        #expect(Int(bitPattern: t.data) % 64 == 0)
        #expect(t.count == 105 && t.toArray().allSatisfy { $0 == 0 })
        t[2, 4, 6] = 1.5
        #expect(t.data[104] == 1.5)
        #expect(t.plane(1) == t.data + 35)
        let c = t.clone()
        t.fill(0)
        #expect(c[2, 4, 6] == 1.5 && t[2, 4, 6] == 0)
        #expect(c.sumOfSquares() == 2.25)
    }

    @Test func rasterImageRoundTrip() throws {
        let pixels: [UInt8] = [255, 0, 10, 128,  0, 255, 20, 255,  1, 2, 3, 0,  40, 50, 60, 7]
        let image = RasterImage(width: 2, height: 2, channels: 4, pixels: pixels)
        let t = Tensor(rgbOf: image)
        #expect(t.channels == 3 && t.height == 2 && t.width == 2)
        #expect(t[0, 0, 0] == 1 && t[1, 0, 1] == 1 && abs(t[2, 1, 1] - 60 / 255) < 1e-7)
        let back = try #require(t.rgbImage())
        #expect(back.channels == 3)
        #expect(back.pixels == [255, 0, 10, 0, 255, 20, 1, 2, 3, 40, 50, 60])
        t[0, 0, 0] = 7
        t[1, 0, 0] = -2
        t[2, 0, 0] = .nan
        #expect(t.rgbImage()!.pixels.prefix(3) == [255, 0, 0])
        #expect(Tensor(channels: 1, height: 2, width: 2).rgbImage() == nil)
    }
}
