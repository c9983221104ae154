/// A resource controller the sandbox limits.
public enum CgroupController: String, Sendable, CaseIterable {
    case memory, cpu, pids
}

/// Where this host keeps the controllers the sandbox needs: cgroup v1 hierarchies (one mount per
/// controller or group of controllers), the unified v2 hierarchy, or a hybrid of both. Read from
/// `/proc/self/mountinfo`, `/proc/self/cgroup` and the v2 root's `cgroup.controllers`.
public struct CgroupLayout: Sendable, Equatable {
    public enum Version: String, Sendable {
        case v1, v2
    }

    /// One mounted hierarchy holding some of the controllers.
    public struct Hierarchy: Sendable, Equatable {
        public var version: Version
        /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
        public var mountPoint: String
        /// The cgroup the mount shows as its root (`/` unless inside a container).
        public var mountRoot: String
        /// This process's cgroup in the hierarchy.
        public var ownPath: String
        /// The controllers the sandbox uses from it.
        public var controllers: [CgroupController]

        /// The directory of cgroup `path` (a path inside the hierarchy).
        public func directory(of path: String) -> String {
            var relative = Substring(path)
            if mountRoot != "/", relative.hasPrefix(mountRoot) { relative = relative.dropFirst(mountRoot.count) }
            let trimmed = relative.drop { $0 == "/" }
            return trimmed.isEmpty ? mountPoint : mountPoint + "/" + trimmed
        }
    }

    public var hierarchies: [Hierarchy]
    /// Controllers found nowhere (their limits cannot be enforced).
    public var missing: [CgroupController]

    /// The version the controllers live in (`v1`, `v2`, or `v1+v2` for a hybrid split).
    public var versionDescription: String {
        let versions = Set(hierarchies.map(\.version))
        return [Version.v1, .v2].filter { versions.contains($0) }.map(\.rawValue).joined(separator: "+")
    }

    /// Reads the layout from the texts of `/proc/self/mountinfo` and `/proc/self/cgroup`;
    /// `v2Controllers` lists what a v2 mount point's `cgroup.controllers` offers.
    /// A controller available in v2 is taken from there, else from its v1 mount.
    public static func detect(mountinfo: String, cgroups: String, v2Controllers: (String) -> [String]) -> CgroupLayout {
        var ownV1: [String: String] = [:]
        var ownV2 = "/"
        for line in cgroups.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0", fields[1].isEmpty {
                ownV2 = String(fields[2])
            } else {
                for name in fields[1].split(separator: ",") { ownV1[String(name)] = String(fields[2]) }
            }
        }
        var v1: [(mountPoint: String, root: String, controllers: [CgroupController])] = []
        var v2: (mountPoint: String, root: String)?
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let before = halves[0].split(separator: " ")
            let after = halves[1].split(separator: " ")
            guard before.count >= 5, after.count >= 3 else { continue }
            let root = unescape(before[3])
            let mountPoint = unescape(before[4])
            switch after[0] {
            case "cgroup2":
                if v2 == nil { v2 = (mountPoint, root) }
            case "cgroup":
                let options = Set(after[2].split(separator: ",").map(String.init))
                let controllers = CgroupController.allCases.filter { options.contains($0.rawValue) }
                if !controllers.isEmpty, !v1.contains(where: { !Set($0.controllers).isDisjoint(with: controllers) }) {
                    v1.append((mountPoint, root, controllers))
                }
            default:
                continue
            }
        }
        var hierarchies: [Hierarchy] = []
        var placed = Set<CgroupController>()
        if let v2 {
            let offered = Set(v2Controllers(v2.mountPoint))
            let controllers = CgroupController.allCases.filter { offered.contains($0.rawValue) }
            if !controllers.isEmpty {
                hierarchies.append(Hierarchy(version: .v2, mountPoint: v2.mountPoint, mountRoot: v2.root, ownPath: ownV2, controllers: controllers))
                placed.formUnion(controllers)
            }
        }
        for mount in v1 {
            let controllers = mount.controllers.filter { !placed.contains($0) }
            guard let first = controllers.first else { continue }
            hierarchies.append(Hierarchy(
                version: .v1, mountPoint: mount.mountPoint, mountRoot: mount.root, ownPath: ownV1[first.rawValue] ?? "/", controllers: controllers
            ))
            placed.formUnion(controllers)
        }
        return CgroupLayout(hierarchies: hierarchies, missing: CgroupController.allCases.filter { !placed.contains($0) })
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    private static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3, let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
