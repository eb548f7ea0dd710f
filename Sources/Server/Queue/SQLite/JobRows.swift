// Rows of the `jobs` table as `JobRecord`s: one list of columns makes the SELECT and RETURNING clauses, and
// the decoder reads every value by its column's name, so the SQL and the decoding cannot drift apart.
import Foundation

enum JobRows {
    /// The columns a `JobRecord` (and its claim's lease) is read from.
    enum Column: String, CaseIterable {
        case id, status, method, params
        case inputWidth = "input_width", inputHeight = "input_height", inputFormat = "input_format"
        case progressStep = "progress_step", progressTotal = "progress_total", loss, attempts
        case cancelRequested = "cancel_requested", createdAt = "created_at", startedAt = "started_at"
        case finishedAt = "finished_at", error, resultFormat = "result_format", summary, attachments, lease
    }

    /// `Column.allCases` for a SELECT or RETURNING clause.
    static let columns = Column.allCases.map(\.rawValue).joined(separator: ", ")

    /// The current row of a statement that selected `columns`, as a record. A status or JSON value the
    /// store cannot read is `.corruptRecord` (a hand-edited or damaged database), never a guess.
    static func record(_ row: SQLiteStatement) throws -> JobRecord {
        let id = try row.text(Column.id.rawValue)
        let statusText = try row.text(Column.status.rawValue)
        guard let status = JobStatus(rawValue: statusText) else {
            throw JobStoreError.corruptRecord(id: id, detail: "unknown status \(statusText.debugDescription)")
        }
        let params: JobParams
        do {
            params = try JSONDecoder().decode(JobParams.self, from: Data(try row.text(Column.params.rawValue).utf8))
        } catch {
            throw JobStoreError.corruptRecord(id: id, detail: "params: \(error)")
        }
        var jobError: JobError?
        if let text = try row.optionalText(Column.error.rawValue) {
            do {
                jobError = try JSONDecoder().decode(JobError.self, from: Data(text.utf8))
            } catch {
                throw JobStoreError.corruptRecord(id: id, detail: "error: \(error)")
            }
        }
        func int(_ column: Column) throws -> Int { try row.int(column.rawValue) }
        func optionalDouble(_ column: Column) throws -> Double? { try row.optionalDouble(column.rawValue) }
        return JobRecord(
            id: id, status: status, method: try row.text(Column.method.rawValue), params: params,
            inputWidth: try int(.inputWidth), inputHeight: try int(.inputHeight),
            inputFormat: try row.text(Column.inputFormat.rawValue),
            progressStep: try int(.progressStep), progressTotal: try int(.progressTotal), loss: try optionalDouble(.loss),
            attempts: try int(.attempts), cancelRequested: try int(.cancelRequested) != 0,
            createdAt: try row.double(Column.createdAt.rawValue), startedAt: try optionalDouble(.startedAt),
            finishedAt: try optionalDouble(.finishedAt), error: jobError,
            resultFormat: try row.optionalText(Column.resultFormat.rawValue),
            summary: try row.optionalText(Column.summary.rawValue),
            attachments: try attachments(try row.text(Column.attachments.rawValue), id: id))
    }

    /// The `attachments` column's text: the file names, sorted, comma-separated; "" for none.
    static func attachmentsText(_ attachments: some Collection<JobAttachment>) -> String {
        attachments.map(\.rawValue).sorted().joined(separator: ",")
    }

    /// The column's text read back; a name the store does not know is `.corruptRecord`.
    static func attachments(_ text: String, id: String) throws -> Set<JobAttachment> {
        var found: Set<JobAttachment> = []
        for name in text.split(separator: ",") {
            guard let attachment = JobAttachment(rawValue: String(name)) else {
                throw JobStoreError.corruptRecord(id: id, detail: "unknown attachment \(String(name).debugDescription)")
            }
            found.insert(attachment)
        }
        return found
    }

    /// The lease token of the current row (a claim's).
    static func lease(_ row: SQLiteStatement) throws -> Int { try row.int(Column.lease.rawValue) }

    /// A value as the JSON text a column stores (`params`, `error`): `canonicalJSON`, so equal values are equal text.
    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try canonicalJSON(value), as: UTF8.self)
    }
}
