import Foundation
import Testing
@testable import Engine

/// Loading refuses missing, truncated and wrong weight files with a message that says how to fetch them.
@Suite struct NetworkWeightsTests {
    static func expectRefused(_ path: String, mentioning words: [String]) {
        do {
            _ = try VGGNetwork(weightsPath: path)
            Issue.record("\(path) was accepted")
        } catch {
            let message = error.description
            #expect(message.contains("scripts/fetch-weights"), "message without the fetch hint: \(message)")
            for word in words { #expect(message.contains(word), "message \"\(message)\" lacks \"\(word)\"") }
        }
    }

    /// A safetensors file from (name, shape, values) entries, F32.
    static func safetensors(_ tensors: [(String, [Int], [Float])], metadata: [String: String] = ["arch": "vgg16"]) -> Data {
        var header: [String: Any] = ["__metadata__": metadata]
        var body = Data(), offset = 0
        for (name, shape, values) in tensors {
            let bytes = values.withUnsafeBufferPointer { Data(buffer: $0) }
            header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes.count]] as [String: Any]
            body.append(bytes)
            offset += bytes.count
        }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var length = UInt64(json.count).littleEndian
        var file = Data(bytes: &length, count: 8)
        file.append(json)
        file.append(body)
        return file
    }

    /// Writes `data` to a temporary file, expects it refused, removes it.
    static func expectRefused(_ data: Data, _ name: String, mentioning words: [String]) throws {
        let dir = try NetworkFixtures.temporaryDirectory("weights")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        expectRefused(url.path, mentioning: words)
    }

    @Test func missingFile() {
        Self.expectRefused("/nonexistent/vgg16-imagenet.safetensors", mentioning: ["cannot open"])
    }

    @Test func notASafetensorsFile() throws {
        try Self.expectRefused(Data("<html>404 not found</html>".utf8), "page.safetensors", mentioning: ["truncated"])
        try Self.expectRefused(Data([1, 2, 3]), "tiny.safetensors", mentioning: ["truncated"])
    }

    @Test func truncatedRealFile() throws {
        let real = try Data(contentsOf: URL(fileURLWithPath: NetworkFixtures.weightsPath))
        try Self.expectRefused(real.prefix(real.count - 4096), "truncated.safetensors", mentioning: ["truncated", "conv5_3"])
        
    }

    @Test func wrongValuesInTheRightLayout() throws {
        var real = try Data(contentsOf: URL(fileURLWithPath: NetworkFixtures.weightsPath))
        // Corrupt conv1_1.weight[0] (the first tensor's first float) in place.
        let headerLength = real.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let header = try JSONSerialization.jsonObject(with: real.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        let entry = header["conv1_1.weight"] as! [String: Any]
        let start = 8 + headerLength + (entry["data_offsets"] as! [Int])[0]
        real.replaceSubrange(start..<(start + 4), with: withUnsafeBytes(of: Float(0.5)) { Data($0) })
        try Self.expectRefused(real, "corrupt.safetensors", mentioning: ["not the ImageNet VGG-16"])
    }

    @Test func wrongShapesAndNames() throws {
        let wrongShape = Self.safetensors([("conv1_1.weight", [64, 3, 5, 5], [Float](repeating: 0, count: 64 * 3 * 25)),
                                           ("conv1_1.bias", [64], [Float](repeating: 0, count: 64))])
        try Self.expectRefused(wrongShape, "shape.safetensors", mentioning: ["conv1_1.weight", "[64, 3, 3, 3]"])
        let missing = Self.safetensors([("conv1_2.weight", [64, 64, 3, 3], [Float](repeating: 0, count: 64 * 64 * 9))])
        try Self.expectRefused(missing, "names.safetensors", mentioning: ["missing conv1_1.weight"])
        let torchvision = Self.safetensors([("features.0.weight", [64, 3, 3, 3], [Float](repeating: 0, count: 64 * 27))])
        try Self.expectRefused(torchvision, "torchvision.safetensors", mentioning: ["features.N", "scripts/convert-vgg"])
        let vgg19Named16 = Self.safetensors([("conv3_4.weight", [256, 256, 3, 3], [Float](repeating: 0, count: 256 * 256 * 9))])
        try Self.expectRefused(vgg19Named16, "vgg19.safetensors", mentioning: ["\"vgg16\"", "vgg19"])
        let f16 = Data(Self.safetensors([("conv1_1.weight", [1], [0])]).map { $0 })
        let f16Text = String(decoding: f16, as: UTF8.self).replacingOccurrences(of: "\"F32\"", with: "\"F16\"")
        try Self.expectRefused(Data(f16Text.utf8), "f16.safetensors", mentioning: ["F16"])
        let otherArch = Self.safetensors([], metadata: ["arch": "resnet50"])
        try Self.expectRefused(otherArch, "arch.safetensors", mentioning: ["resnet50"])
    }

    @Test func realWeightsLoad() throws {
        let network = try NetworkFixtures.network()
        #expect(network.architecture == .vgg16)
        #expect(network.preprocessing == .caffeBGR)
        #expect(network.convs.count == 11)  // conv1_1 … conv5_1
        #expect(network.convs.map(\.name).last == "conv5_1")
    }
}
