import Foundation

/// Reads scenario files: JSON, format version 1 (documented in `docs/simulator.md`).
///
/// A file holds `"version": 1`, optional `"defaults"` (an object of scenario keys) and
/// `"scenarios"` (an array of objects, each merged over the defaults). A file without
/// `"scenarios"` is one scenario. Unknown keys, wrong types and impossible values are errors
/// that name the file and the key path.
public enum ScenarioFile {
    /// The format version this reader understands.
    public static let version = 1

    /// Loads every scenario of a file.
    ///
    /// - Parameters:
    ///   - overrides: `key.path=value` assignments applied to every scenario after the file
    ///     (values are JSON scalars, arrays, or bare strings).
    ///   - defaultDataDirectory: topology data folder for scenarios that name none.
    public static func load(
        path: String, overrides: [String] = [], defaultDataDirectory: String? = nil
    ) throws(SimulationError) -> [Scenario] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SimulationError(.missingFile, path, "cannot read the scenario file")
        }
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data)
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw SimulationError(.invalidScenario, "\(path)\(lineSuffix(detail, in: data))", "not valid JSON: \(detail)")
        }
        return try parse(root, file: path, overrides: overrides, defaultDataDirectory: defaultDataDirectory)
    }

    /// Parses an already decoded JSON document (see ``load(path:overrides:defaultDataDirectory:)``).
    public static func parse(
        _ root: Any, file: String, overrides: [String] = [], defaultDataDirectory: String? = nil
    ) throws(SimulationError) -> [Scenario] {
        guard let top = root as? [String: Any] else {
            throw SimulationError(.invalidScenario, file, "the top level must be a JSON object")
        }
        guard let version = top["version"] as? Int else {
            throw SimulationError(.invalidScenario, "\(file): version", "missing `\"version\": \(Self.version)`")
        }
        guard version == Self.version else {
            throw SimulationError(.invalidScenario, "\(file): version", "format version \(version) is not supported (this ecdn reads version \(Self.version))")
        }
        for key in top.keys.sorted() where !["version", "defaults", "scenarios", "format", "description"].contains(key) && top["scenarios"] != nil {
            throw SimulationError(.invalidScenario, "\(file): \(key)", "unknown key (expected version, description, defaults, scenarios)")
        }
        let defaults = top["defaults"] as? [String: Any] ?? [:]
        if top["defaults"] != nil && top["defaults"] as? [String: Any] == nil {
            throw SimulationError(.invalidScenario, "\(file): defaults", "must be an object")
        }
        var entries: [(String, [String: Any])] = []
        if let list = top["scenarios"] {
            guard let array = list as? [Any], !array.isEmpty else {
                throw SimulationError(.invalidScenario, "\(file): scenarios", "must be a non-empty array of objects")
            }
            for (i, item) in array.enumerated() {
                guard let object = item as? [String: Any] else {
                    throw SimulationError(.invalidScenario, "\(file): scenarios[\(i)]", "must be an object")
                }
                entries.append(("scenarios[\(i)]", merge(defaults, object)))
            }
        } else {
            var single = top
            for key in ["version", "format", "description", "defaults"] { single[key] = nil }
            entries.append(("", merge(defaults, single)))
        }
        var scenarios: [Scenario] = []
        var names = Set<String>()
        for (prefix, var object) in entries {
            for assignment in overrides {
                try apply(assignment, to: &object)
            }
            let reader = Reader(file: file, prefix: prefix)
            var scenario = try reader.scenario(object)
            if case .country = scenario.topology.source, scenario.topology.dataDirectory == nil {
                scenario.topology.dataDirectory = defaultDataDirectory
            }
            guard names.insert(scenario.name).inserted else {
                throw SimulationError(.invalidScenario, "\(file): \(prefix).name", "duplicate scenario name \"\(scenario.name)\"")
            }
            scenarios.append(scenario)
        }
        return scenarios
    }

    /// `:line:column` for a parser message that names a character offset.
    static func lineSuffix(_ message: String, in data: Data) -> String {
        guard let range = message.range(of: "character "),
              let offset = Int(message[range.upperBound...].prefix { $0.isNumber })
        else { return "" }
        var line = 1
        var column = 1
        for byte in data.prefix(offset) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return ":\(line):\(column)"
    }

    static func merge(_ base: [String: Any], _ over: [String: Any]) -> [String: Any] {
        var result = base
        for (key, value) in over {
            if let a = result[key] as? [String: Any], let b = value as? [String: Any] {
                result[key] = merge(a, b)
            } else {
                result[key] = value
            }
        }
        return result
    }

    /// Applies `a.b.c=value` to a scenario object.
    static func apply(_ assignment: String, to object: inout [String: Any]) throws(SimulationError) {
        guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
            throw SimulationError(.invalidScenario, "--set \(assignment)", "expected KEY.PATH=VALUE, for example caches.bootTime=1")
        }
        let keys = assignment[..<eq].split(separator: ".").map(String.init)
        let text = String(assignment[assignment.index(after: eq)...])
        let value: Any = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
        func set(_ dict: inout [String: Any], _ keys: ArraySlice<String>) {
            guard let first = keys.first else { return }
            if keys.count == 1 {
                dict[first] = value
            } else {
                var inner = dict[first] as? [String: Any] ?? [:]
                set(&inner, keys.dropFirst())
                dict[first] = inner
            }
        }
        set(&object, keys[...])
    }
}
