import SystemPackage

extension VolumeWriter {
    /// Imports a web tree: every regular file under `directory` becomes an object named by its
    /// relative path, with the MIME type of its extension; the top-level `index.html` becomes the
    /// default object. Names starting with `.` are skipped, except `.well-known`.
    ///
    /// Data is synced in batches before the batch's entries are written. If any file fails (name
    /// too long, duplicate, volume or bucket full), every object this import added is removed again
    /// and the error is thrown, so the volume is left as it was.
    /// - Parameter progress: called after each file.
    @discardableResult
    public func importTree(at directory: String, batchBytes: Int64 = 256 << 20, progress: ((ImportProgress) -> Void)? = nil) throws(SHFSError) -> ImportSummary {
        guard FileTree.isDirectory(directory) else {
            throw SHFSError(.invalidArgument, "\(directory) is not a directory")
        }
        let files = try FileTree.regularFiles(under: directory)
        for f in files where f.relativePath.utf8.count > 64 {
            throw SHFSError(.invalidArgument, "\(directory)/\(f.relativePath): its name is \(f.relativePath.utf8.count) bytes, SHFS names are at most 64; nothing was imported")
        }
        let total = files.reduce(Int64(0)) { $0 + $1.size }
        let cs = Int64(header.chunkSize)
        let needed = files.reduce(Int64(0)) { $0 + ($1.size + cs - 1) / cs * cs }
        guard needed <= freeBytes.total else {
            throw SHFSError(.volumeFull, "\(path): volume full: the tree needs \(needed) bytes, \(freeBytes.total) are free; nothing was imported (make a larger volume with `shfs mkfs --size`)")
        }
        var committed: [Entry] = []
        var pending: [Entry] = []
        var done: Int64 = 0
        var summary = ImportSummary(added: [], bytes: 0, defaultEntry: nil)
        do throws(SHFSError) {
            for (i, f) in files.enumerated() {
                let full = "\(directory)/\(f.relativePath)"
                let source: FileDescriptor
                do { source = try FileDescriptor.open(FilePath(full), .readOnly, options: [.closeOnExec]) } catch {
                    throw .io("cannot open \(full)", error as? Errno ?? .ioError)
                }
                let e: Entry
                do {
                    e = try stage(from: source, length: f.size, options: ObjectOptions(name: f.relativePath, mimeType: MIMETypes.forFileName(f.relativePath)))
                    try? source.close()
                } catch {
                    try? source.close()
                    throw SHFSError(error.code, "\(full): \(error.message)", errno: error.errno)
                }
                pending.append(e)
                done += f.size
                if uncommittedBytes >= batchBytes || pending.count >= 4096 {
                    try commit()
                    committed += pending
                    pending.removeAll()
                }
                progress?(ImportProgress(filesDone: i + 1, filesTotal: files.count, bytesDone: done, bytesTotal: total, currentName: f.relativePath))
            }
            try commit()
            committed += pending
            pending.removeAll()
            if let index = committed.first(where: { $0.name == "index.html" }) {
                summary.defaultEntry = try setDefault(index)
            }
        } catch {
            discardStaged()
            for e in committed.reversed() { try? remove(e) }
            throw error
        }
        summary.added = committed
        summary.bytes = done
        return summary
    }
}
