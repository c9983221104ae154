/// Progress of a tree import, reported after each file.
public struct ImportProgress: Sendable {
    public var filesDone: Int
    public var filesTotal: Int
    public var bytesDone: Int64
    public var bytesTotal: Int64
    /// The file just added.
    public var currentName: String
}

/// What a tree import added.
public struct ImportSummary: Sendable {
    public var added: [Entry]
    public var bytes: Int64
    /// The entry made default (the top-level `index.html`), if any.
    public var defaultEntry: Entry?
}
