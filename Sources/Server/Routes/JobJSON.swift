import Engine
import Foundation

extension JobRecord {
    /// The job body of docs/api.md. `queue_position` is present only while queued.
    func json(queuePosition: Int?) -> JSON {
        var paramFields: [(String, JSON)] = [("w", .int(params.width)), ("h", .int(params.height))]
        if method == ResizeMethod.deep.rawValue {
            paramFields += [("operator", .optional(params.op)), ("protect", params.protect.map(JSON.bool) ?? .null),
                            ("iterations", params.iterations.map(JSON.int) ?? .null)]
        }
        paramFields.append(("format", .string(params.format)))
        if let quality = params.quality { paramFields.append(("quality", .int(quality))) }
        let fraction = status == .succeeded ? 1 : (progressTotal > 0 ? min(1, Double(progressStep) / Double(progressTotal)) : 0)
        var fields: [(String, JSON)] = [
            ("id", .string(id)),
            ("status", .string(status.rawValue)),
            ("method", .string(method)),
            ("params", .object(paramFields)),
            ("input", .object([("width", .int(inputWidth)), ("height", .int(inputHeight)), ("format", .string(inputFormat))])),
            ("progress", .object([("fraction", .double(fraction)), ("iteration", .int(progressStep)),
                                  ("iterations", .int(progressTotal)), ("loss", .optional(loss))])),
        ]
        if status == .queued, let queuePosition { fields.append(("queue_position", .int(queuePosition))) }
        if let summary { fields.append(("summary", .string(summary))) }
        var links: [(String, JSON)] = [("self", .string("/jobs/\(id)")), ("result", .string("/jobs/\(id)/result"))]
        if status == .succeeded && attachments.contains(.mask) { links.append(("mask", .string("/jobs/\(id)/mask"))) }
        fields += [
            ("created_at", .string(iso8601(createdAt))),
            ("started_at", .optional(startedAt.map(iso8601))),
            ("finished_at", .optional(finishedAt.map(iso8601))),
            ("error", error.map { Problem($0).json } ?? .null),
            ("links", .object(links)),
        ]
        return .object(fields)
    }
}

/// RFC 3339 / ISO 8601 in UTC with a `Z`, seconds precision, as docs/api.md shows.
func iso8601(_ unixSeconds: Double) -> String {
    Date(timeIntervalSince1970: unixSeconds.rounded(.down)).ISO8601Format()
}
