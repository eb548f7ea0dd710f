import Foundation
import Testing
@testable import Server

/// Issue 16, item 8: `GET /limits` answers the running configuration's limits and defaults (the web page
/// pre-fills a size from them).
@Suite struct LimitsTests {
    @Test func limitsFollowTheConfiguration() throws {
        let server = try ServerProcess(settings: ["max_deep_output_pixels": "500000", "max_body_bytes": "1234567",
                                                  "max_input_pixels": "30000000", "default_wait": "45", "jpeg_quality": "80"])
        let answer = try curl([], "\(server.baseURL)/limits")
        #expect(answer.status == 200 && answer.headers["content-type"] == "application/json")
        let limits = try answer.json()
        #expect(limits["default_method"] as? String == "deep")
        #expect(limits["methods"] as? [String] == ["deep", "seam", "scale"])
        #expect(limits["formats"] as? [String] == ["png", "jpeg", "webp"])
        #expect(limits["max_body_bytes"] as? Int == 1_234_567)
        #expect(limits["max_input_pixels"] as? Int == 30_000_000)
        let output = try #require(limits["max_output_pixels"] as? [String: Int])
        #expect(output == ["deep": 500_000, "seam": 500_000, "scale": ServiceConfig().maxScaleOutputPixels])
        #expect(limits["max_output_dimension"] as? Int == ServiceConfig().maxOutputDimension)
        #expect(limits["default_wait"] as? Double == 45 && limits["max_wait"] as? Double == 300)
        #expect((limits["iterations"] as? [String: Int]) == ["default": 20, "min": 1, "max": 1000])
        #expect((limits["quality"] as? [String: Int]) == ["default": 80, "min": 1, "max": 100])
        // No token needed, like /openapi.json; HEAD answers the headers.
        let guarded = try ServerProcess(settings: ["auth_tokens": "limits-test-token-0123456789"])
        #expect(try curl([], "\(guarded.baseURL)/limits").status == 200)
        #expect(try curl(["-I"], "\(guarded.baseURL)/limits").status == 200)
        #expect(try curl(["-X", "POST"], "\(guarded.baseURL)/limits").status == 405)
    }

    @Test func thePageReadsTheLimits() {
        let page = WebPage.text
        #expect(page.contains("fetch(\"/limits\""))
        #expect(page.contains("<option value=\"deep\" selected>"))
    }
}
