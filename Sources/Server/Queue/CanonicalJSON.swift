import Foundation

/// `value` as JSON with sorted keys, so equal values are equal bytes: how a store keeps a job's `params`
/// and how the result cache's keys hold them (`ResultCache.key`), one encoding for both.
func canonicalJSON(_ value: some Encodable) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return Array(try encoder.encode(value))
}
