import Testing
@testable import Engine

@Suite("Geometry: a uniform scale first, then only the aspect change")
struct ResizeGeometryTests {
    private func geometry(_ sw: Int, _ sh: Int, _ tw: Int, _ th: Int, maxPixels: Int? = nil,
                          minimumSide: Int = 1) -> ResizeGeometry {
        ResizeGeometry(source: PixelSize(width: sw, height: sh), target: PixelSize(width: tw, height: th),
                       maxWorkingPixels: maxPixels, minimumWorkingSide: minimumSide)
    }

    @Test("a request that keeps the aspect ratio is a uniform scale (a 4:3 camera photo to 400×300)")
    func sameAspect() {
        for (sw, sh, tw, th) in [(4224, 3168, 400, 300), (640, 480, 320, 240), (1920, 1080, 640, 360), (100, 100, 1000, 1000),
                                 (3000, 2000, 301, 200), (4000, 3000, 4000, 3000)] {
            let g = geometry(sw, sh, tw, th, maxPixels: 1_000_000, minimumSide: 16)
            #expect(g.isUniform, "\(sw)×\(sh) → \(tw)×\(th) gave \(g.working)")
            #expect(!g.changesWidth && !g.changesHeight)
        }
    }

    @Test("shrinking both axes scales to the size that covers the target; the other axis is left to the operator")
    func shrinkBoth() {
        let g = geometry(4224, 3168, 400, 240)
        #expect(g.working == PixelSize(width: 400, height: 300))
        #expect(!g.changesWidth && g.changesHeight)
        let h = geometry(4000, 1000, 300, 200)
        #expect(h.working == PixelSize(width: 800, height: 200))
        #expect(h.changesWidth && !h.changesHeight)
    }

    @Test("one axis changing keeps the source's scale: only that axis is content-aware")
    func oneAxis() {
        for (tw, th) in [(384, 360), (896, 360), (640, 216), (640, 504)] {
            let g = geometry(640, 360, tw, th)
            #expect(g.working == PixelSize(width: 640, height: 360), "\(tw)×\(th)")
            #expect(g.changesWidth == (tw != 640) && g.changesHeight == (th != 360))
        }
    }

    @Test("growing both scales up to the axis that grows least; one growing and one shrinking keeps the scale")
    func growing() {
        let g = geometry(400, 300, 800, 450)
        #expect(g.working == PixelSize(width: 600, height: 450))
        #expect(g.changesWidth && !g.changesHeight)
        let m = geometry(400, 300, 560, 200)
        #expect(m.working == PixelSize(width: 400, height: 300))
        #expect(m.changesWidth && m.changesHeight)
    }

    @Test("the working image stays within its pixel limit, and at least minimumWorkingSide on each side")
    func limits() {
        let g = geometry(4000, 1000, 1000, 1000, maxPixels: 1_000_000)
        #expect(g.working.area <= 1_000_000)
        #expect(abs(Double(g.working.width) / Double(g.working.height) - 4) < 0.02)
        let small = geometry(1000, 1000, 8, 10, minimumSide: 16)
        #expect(min(small.working.width, small.working.height) >= 16)
        // Sizes down to one pixel never trap.
        for s in [1, 2, 3, 15, 16, 17] {
            for t in [1, 2, 7, 8, 9, 100] {
                let a = geometry(s, 1, t, s, minimumSide: 16), b = geometry(1, s, s, t, maxPixels: 100)
                #expect(a.working.width >= 1 && a.working.height >= 1 && b.working.width >= 1 && b.working.height >= 1)
            }
        }
    }

    @Test("a 1 % (or one pixel) change of aspect counts as none")
    func tolerance() {
        #expect(geometry(1000, 600, 400, 242).isUniform)   // 0.8 % off in height
        #expect(!geometry(1000, 600, 400, 250).isUniform)  // 4 % off
        #expect(geometry(101, 100, 10, 10).isUniform)
    }
}
