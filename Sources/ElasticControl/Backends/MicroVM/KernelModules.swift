#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// A kernel's modules (`/lib/modules/VERSION`): which drivers are built in, which are modules,
/// and in what order modules load (their dependencies first, as `modprobe` does).
struct KernelModules {
    struct Module: Equatable {
        /// `virtio_net` (dashes normalised to underscores).
        var name: String
        /// Absolute path of the module file (`.ko`, or compressed `.ko.xz`, `.ko.zst`, `.ko.gz`).
        var path: String

        /// The module as a plain `.ko` (decompressed into `scratch` when needed).
        /// - Throws: ``ControlError`` `imageFailed`.
        func plainFile(scratch: String) throws(ControlError) -> String {
            let tools = [".xz": "xz", ".zst": "zstd", ".gz": "gzip"]
            guard let (suffix, tool) = tools.first(where: { path.hasSuffix($0.key) }) else { return path }
            guard let program = ImageTools.find(tool) else {
                throw ControlError(.imageFailed, "module \(path) is compressed (\(suffix)): install \(tool)")
            }
            let output = scratch + "/" + name + ".ko"
            try ImageTools.run(program, ["-dc", path], standardOutput: output)
            return output
        }
    }

    let directory: String
    private var dependencies: [String: (path: String, needs: [String])] = [:]
    private var builtin: Set<String> = []

    /// Reads `modules.dep` and `modules.builtin` of `directory`.
    /// - Throws: ``ControlError`` `imageFailed` when neither exists.
    init(directory: String, kernel: String) throws(ControlError) {
        self.directory = directory
        let dep = try? String(contentsOfFile: directory + "/modules.dep", encoding: .utf8)
        let builtinList = try? String(contentsOfFile: directory + "/modules.builtin", encoding: .utf8)
        guard dep != nil || builtinList != nil else {
            throw ControlError(
                .imageFailed,
                "no modules for \(kernel) in \(directory): install the kernel's package (apt-get install linux-image-cloud-amd64), or pass --modules DIR"
            )
        }
        for line in (dep ?? "").split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon])
            let needs = line[line.index(after: colon)...].split(separator: " ").map { Self.name(of: String($0)) }
            dependencies[Self.name(of: path)] = (path, needs)
        }
        for line in (builtinList ?? "").split(separator: "\n") { builtin.insert(Self.name(of: String(line))) }
    }

    /// `virtio_net` for `kernel/drivers/net/virtio_net.ko.xz`.
    static func name(of path: String) -> String {
        var base = Substring((path as NSString).lastPathComponent)
        if let dot = base.range(of: ".ko") { base = base[..<dot.lowerBound] }
        return base.replacingOccurrences(of: "-", with: "_")
    }

    /// The modules to load, dependencies first, so that `drivers` work; built-in drivers need none.
    /// - Throws: ``ControlError`` `imageFailed` naming a driver the kernel has neither built in
    ///   nor as a module.
    func loadOrder(for drivers: [String]) throws(ControlError) -> [Module] {
        var order: [Module] = []
        var seen: Set<String> = []
        func visit(_ name: String) throws(ControlError) {
            guard !builtin.contains(name), seen.insert(name).inserted else { return }
            guard let entry = dependencies[name] else {
                throw ControlError(
                    .imageFailed,
                    "the kernel has no \(name) (neither built in nor a module in \(directory)); a microVM needs \(VMImage.requiredDrivers.joined(separator: ", ")): choose another kernel with --kernel"
                )
            }
            for dependency in entry.needs { try visit(dependency) }
            order.append(Module(name: name, path: entry.path.hasPrefix("/") ? entry.path : directory + "/" + entry.path))
        }
        for driver in drivers { try visit(driver) }
        return order
    }
}
