// File publication in three steps, for files whose row changes with them (a job's result and attachments):
// stage (write and fsync temp files beside their final names: the slow part, outside any lock), commit
// (rename them into place, in order, once the row's transition is decided), roll back (remove what is
// staged or already in place when the transition does not happen). A file is either absent or complete.

/// Files written beside their final names in one directory, not yet visible under them.
struct StagedFiles {
    let directory: String
    private var files: [(name: String, temp: String, published: Bool)]

    /// Writes each file as a synced temp file in `directory`. On failure nothing is left.
    init(_ contents: [(name: String, bytes: [UInt8])], in directory: String) throws {
        self.directory = directory
        files = []
        do {
            for (name, bytes) in contents {
                files.append((name, try JobFiles.writeTemp(bytes, in: directory), false))
            }
        } catch {
            rollBack()
            throw error
        }
    }

    /// Renames every staged file to its name, in the order given (a reader that finds the last one finds
    /// the others), syncing the directory after each.
    mutating func commit() throws {
        for index in files.indices where !files[index].published {
            try JobFiles.publish(temp: files[index].temp, as: directory + "/" + files[index].name, directory: directory)
            files[index].published = true
        }
    }

    /// Removes what was staged and not committed, and what was committed (the transition it belonged to
    /// did not happen). Best effort: the start-up sweep removes whatever a crash leaves.
    mutating func rollBack() {
        for file in files {
            try? JobFiles.removeFile(file.published ? directory + "/" + file.name : file.temp)
        }
        files.removeAll()
    }
}
