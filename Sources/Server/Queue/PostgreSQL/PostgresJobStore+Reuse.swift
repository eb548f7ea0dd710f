// The result cache and purge on PostgreSQL: a job born succeeded with copies of a cached job's files (copied
// inside the database, never through this process), and a finished job's row deleted with its files.

extension PostgresJobStore {
    /// The newest live succeeded job with `cacheKey` whose files are all in place, copied into a new job in one
    /// transaction (`JobStore.reuseCachedResult`); nil on a miss.
    public func reuseCachedResult(cacheKey: String, method: String, params: JobParams, inputFormat: String,
                                  inputWidth: Int, inputHeight: Int) throws -> JobRecord? {
        guard JobFormat.isValid(inputFormat) else { throw JobStoreError.invalidFormat(inputFormat) }
        let paramsJSON = try JobRows.json(params)
        let now = clock()
        return try pool.transaction { db -> JobRecord? in
            let sources = try db.query("""
                SELECT \(Self.columns) FROM jobs WHERE cache_key = $1 AND status = 'succeeded' AND finished_at >= $2
                ORDER BY finished_at DESC LIMIT 4
                """, [.text(cacheKey), .double(now - resultTTL)])
            for row in 0..<sources.count {
                let source = try Self.record(sources, row)
                guard let format = source.resultFormat, JobFormat.isValid(format) else { continue }
                // Locked, so a purge or expiry of the source waits until the copy is made (or finds it gone).
                let stored = try db.query("SELECT name FROM job_files WHERE job_id = $1 ORDER BY name FOR SHARE", [.text(source.id)])
                let names = Set(try (0..<stored.count).map { try stored.text($0, "name") })
                // A source whose result or a recorded attachment is missing is skipped, never half-copied.
                let attachments = source.attachments.map(\.rawValue).sorted()
                guard names.contains("result." + format), attachments.allSatisfy(names.contains) else { continue }
                let id = JobID.generate()
                let inserted = try db.query("""
                    INSERT INTO jobs (id, status, method, params, input_width, input_height, input_format, progress_step,
                        progress_total, loss, created_at, started_at, finished_at, result_format, summary, cache_key,
                        attachments)
                    VALUES ($1, 'succeeded', $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10, $11, $12, $13, $14)
                    RETURNING \(Self.columns)
                    """, [.text(id), .text(method), .text(paramsJSON), .int(inputWidth), .int(inputHeight), .text(inputFormat),
                          .int(source.progressStep), .int(source.progressTotal), .optional(source.loss.flatMap { $0.isFinite ? $0 : nil }),
                          .double(now), .text(format), .optional(source.summary), .text(cacheKey),
                          .text(JobRows.attachmentsText(source.attachments))])
                let record = try Self.record(inserted, 0)
                let copied = try db.query("""
                    INSERT INTO job_files (job_id, name, size, data)
                    SELECT $1, name, size, data FROM job_files WHERE job_id = $2 AND (name = $3 OR name = ANY ($4::text[]))
                    RETURNING size
                    """, [.text(id), .text(source.id), .text("result." + format), .text(Self.textArray(attachments))])
                let bytes = try (0..<copied.count).reduce(0) { $0 + (try copied.int($1, "size")) }
                try lockAdmission(db)
                try checkQuota(db, including: bytes, now: now)
                return record
            }
            return nil
        }
    }

    /// `names` as a PostgreSQL array literal (they are our own file names: no quoting needed beyond this).
    static func textArray(_ names: [String]) -> String {
        "{" + names.map { "\"" + $0 + "\"" }.joined(separator: ",") + "}"
    }

    /// Deletes a finished job's row and, with it, its files (`JobStore.purge`).
    public func purge(id: String) throws -> JobRecord? {
        guard JobID.isValid(id) else { return nil }
        let now = clock()
        // An end the database has not taken yet is finished all the same (its row still says running, under
        // the lease that ended it; a row claimed again since then is another run's and stays).
        let kept = unrecordedEntry(id)
        let purged: JobRecord?? = try pool.transaction { db -> JobRecord?? in
            guard let job = try kept?.record ?? liveRecord(db, id: id, now: now, lock: true) else { return .some(nil) }
            guard job.status.isFinished else { return .some(job) }
            let deleted = try db.query("""
                DELETE FROM jobs WHERE id = $1 AND (status IN ('succeeded', 'failed', 'canceled') OR lease = $2)
                """, [.text(id), .int(kept?.lease ?? -1)]).affected
            guard deleted > 0 else { return nil }  // claimed again meanwhile: that run's job
            forgetUnrecorded(id)
            return .some(job)
        }
        if let purged { return purged }
        return try job(id: id)
    }
}
