#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// Just enough of the x86 boot protocol (`Documentation/arch/x86/boot.rst`) to take the
/// compressed kernel out of a `bzImage`.
enum BzImage {
    /// The uncompressed ELF kernel inside `path`, decompressed into `scratch` with the host's
    /// tool for its compression; nil when the file is not a bzImage (protocol 2.08 or later),
    /// the tool is missing, or the result is not an ELF file.
    static func extractELF(_ path: String, scratch: String) -> String? {
        guard let image = FileManager.default.contents(atPath: path), image.count > 0x250 else { return nil }
        let bytes = [UInt8](image)
        func load(_ offset: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) } }
        guard bytes[0x202..<0x206].elementsEqual("HdrS".utf8), load(0x206) & 0xFFFF >= 0x0208 else { return nil }
        let setupSectors = bytes[0x1F1] == 0 ? 4 : Int(bytes[0x1F1])
        let start = (setupSectors + 1) * 512 + load(0x248)
        let length = load(0x24C)
        guard start + length <= bytes.count, length > 16 else { return nil }
        let payload = Array(bytes[start..<(start + length)])
        let magics: [([UInt8], String)] = [
            ([0x1F, 0x8B], "gzip"), ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz"), ([0x28, 0xB5, 0x2F, 0xFD], "zstd"),
            ([0x02, 0x21, 0x4C, 0x18], "lz4"), ([0x5D, 0x00, 0x00], "lzma"), ([0x42, 0x5A, 0x68], "bzip2"), ([0x89, 0x4C, 0x5A, 0x4F], "lzop"),
        ]
        guard let tool = magics.first(where: { payload.starts(with: $0.0) })?.1, let program = ImageTools.find(tool) else { return nil }
        let output = scratch + "/vmlinux"
        // The build appends the uncompressed size (4 bytes) after the stream, which some tools refuse.
        for trimmed in [payload, Array(payload.dropLast(4))] {
            let input = scratch + "/kernel-payload"
            guard (try? ImageTools.write(trimmed, to: input)) != nil else { return nil }
            defer { unlink(input) }
            if (try? ImageTools.run(program, ["-dc", input], standardOutput: output)) != nil,
               let head = FileHandle(forReadingAtPath: output).flatMap({ try? $0.read(upToCount: 4) }),
               head.elementsEqual([0x7F, 0x45, 0x4C, 0x46]) {
                return output
            }
        }
        unlink(output)
        return nil
    }
}
