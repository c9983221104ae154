extension ResourceLimits {
    /// Parses `memory=MIB,cpus=CORES,pids=N` (any of the three, in any order; one left out stays
    /// unlimited), the form `ecdn up --tenant-limits` takes.
    /// - Throws: ``ControlError`` `badConfiguration` naming the part that is wrong.
    package init(parsing text: Substring) throws(ControlError) {
        self.init()
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else {
                throw ControlError(.badConfiguration, "limit '\(part)' is not NAME=VALUE (memory=MIB, cpus=CORES, pids=N)")
            }
            switch pair[0] {
            case "memory":
                guard let mebibytes = Int64(pair[1]), mebibytes >= 8 else {
                    throw ControlError(.badConfiguration, "memory=\(pair[1]): give whole MiB, at least 8")
                }
                memoryBytes = mebibytes << 20
            case "cpus":
                guard let cores = Double(pair[1]), cores >= 0.01 else {
                    throw ControlError(.badConfiguration, "cpus=\(pair[1]): give cores, at least 0.01 (0.5 is half of one)")
                }
                cpus = cores
            case "pids":
                guard let count = Int(pair[1]), count >= 1 else {
                    throw ControlError(.badConfiguration, "pids=\(pair[1]): give a count of processes and threads, at least 1")
                }
                pids = count
            default:
                throw ControlError(.badConfiguration, "unknown limit '\(pair[0])': use memory=MIB, cpus=CORES or pids=N")
            }
        }
        guard memoryBytes != nil || cpus != nil || pids != nil else {
            throw ControlError(.badConfiguration, "no limit given: use memory=MIB, cpus=CORES or pids=N")
        }
    }
}

extension SandboxConfiguration {
    /// Sets tenants' limits from `TENANT:memory=MIB,cpus=CORES,pids=N` entries (`ecdn up
    /// --tenant-limits`); the tenant `*` sets ``defaultTenantLimits``.
    /// - Throws: ``ControlError`` `badConfiguration` naming the entry that is wrong.
    package mutating func setTenantLimits(parsing entries: [String]) throws(ControlError) {
        for entry in entries {
            guard let colon = entry.firstIndex(of: ":"), colon != entry.startIndex else {
                throw ControlError(.badConfiguration, "'\(entry)' is not TENANT:LIMITS (e.g. vod:memory=512,cpus=1.5,pids=256)")
            }
            let limits = try ResourceLimits(parsing: entry[entry.index(after: colon)...])
            let tenant = String(entry[..<colon])
            if tenant == "*" { defaultTenantLimits = limits } else { tenantLimits[tenant] = limits }
        }
    }
}
