/// MIME types guessed from file extensions, for web-site imports.
public enum MIMETypes {
    private static let byExtension: [String: String] = [
        "html": "text/html", "htm": "text/html", "css": "text/css", "js": "text/javascript",
        "mjs": "text/javascript", "json": "application/json", "txt": "text/plain", "xml": "application/xml",
        "csv": "text/csv", "md": "text/markdown", "svg": "image/svg+xml", "png": "image/png",
        "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
        "avif": "image/avif", "ico": "image/x-icon", "bmp": "image/bmp",
        "woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
        "pdf": "application/pdf", "wasm": "application/wasm", "zip": "application/zip",
        "gz": "application/gzip", "tar": "application/x-tar",
        "m3u8": "application/vnd.apple.mpegurl", "ts": "video/mp2t", "m4s": "video/iso.segment",
        "mpd": "application/dash+xml", "mp4": "video/mp4", "m4v": "video/mp4", "webm": "video/webm",
        "mkv": "video/x-matroska", "mov": "video/quicktime", "mp3": "audio/mpeg", "m4a": "audio/mp4",
        "aac": "audio/aac", "ogg": "audio/ogg", "opus": "audio/opus", "wav": "audio/wav",
        "flac": "audio/flac", "vtt": "text/vtt", "srt": "application/x-subrip",
    ]

    /// The MIME type for a file name's extension (case-insensitive), or empty when unknown
    /// (served as `application/octet-stream`).
    public static func forFileName(_ name: String) -> String {
        let base = name.split(separator: "/").last ?? Substring(name)
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return "" }
        return byExtension[base[base.index(after: dot)...].lowercased()] ?? ""
    }
}
