import Testing
import ImageCodecs

@Suite struct RasterImageTests {
    @Test func blankImageHasTheRequestedLayout() {
        let image = RasterImage(width: 5, height: 3, channels: 4)
        #expect(image.pixels.count == 60)
        #expect(image.rowBytes == 20)
        #expect(image.hasAlpha)
    }
}
