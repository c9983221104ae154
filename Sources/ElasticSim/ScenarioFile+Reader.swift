import Foundation

extension ScenarioFile {
    /// Reads typed values out of a JSON object, naming the key path in every error.
    struct Reader {
        var file: String
        var prefix: String

        func location(_ path: String) -> String {
            prefix.isEmpty ? "\(file): \(path)" : "\(file): \(prefix).\(path)"
        }

        func fail(_ path: String, _ message: String) -> SimulationError {
            SimulationError(.invalidScenario, location(path), message)
        }

        func checkKeys(_ object: [String: Any], _ allowed: [String], at path: String) throws(SimulationError) {
            for key in object.keys.sorted() where !allowed.contains(key) {
                let full = path.isEmpty ? key : "\(path).\(key)"
                throw fail(full, "unknown key (expected one of: \(allowed.joined(separator: ", ")))")
            }
        }

        func section(_ value: Any?, _ path: String) throws(SimulationError) -> [String: Any] {
            guard let value else { return [:] }
            guard let object = value as? [String: Any] else { throw fail(path, "must be an object") }
            return object
        }

        func number(_ value: Any?, _ path: String, default fallback: Double, min: Double = -.infinity, max: Double = .infinity, exclusiveMin: Bool = false) throws(SimulationError) -> Double {
            guard let value else { return fallback }
            guard let n = value as? NSNumber, !Self.isBoolean(n) else {
                throw fail(path, "must be a number, got \(describe(value))")
            }
            let x = n.doubleValue
            guard x.isFinite else { throw fail(path, "must be finite") }
            if exclusiveMin ? x <= min : x < min { throw fail(path, "must be \(exclusiveMin ? ">" : ">=") \(format(min)), got \(format(x))") }
            if x > max { throw fail(path, "must be <= \(format(max)), got \(format(x))") }
            return x
        }

        func integer(_ value: Any?, _ path: String, default fallback: Int, min: Int = .min, max: Int = .max) throws(SimulationError) -> Int {
            guard let value else { return fallback }
            let x = try number(value, path, default: 0)
            guard x == x.rounded(), abs(x) < 9e15 else { throw fail(path, "must be a whole number, got \(format(x))") }
            let i = Int(x)
            if i < min { throw fail(path, "must be >= \(min), got \(i)") }
            if i > max { throw fail(path, "must be <= \(max), got \(i)") }
            return i
        }

        func bool(_ value: Any?, _ path: String, default fallback: Bool) throws(SimulationError) -> Bool {
            guard let value else { return fallback }
            guard let n = value as? NSNumber, Self.isBoolean(n) else {
                throw fail(path, "must be true or false, got \(describe(value))")
            }
            return n.boolValue
        }

        func string(_ value: Any?, _ path: String, default fallback: String?, allowed: [String]? = nil) throws(SimulationError) -> String? {
            guard let value else { return fallback }
            guard let s = value as? String else { throw fail(path, "must be a string, got \(describe(value))") }
            if let allowed, !allowed.contains(s) {
                throw fail(path, "\"\(s)\" is not one of: \(allowed.joined(separator: ", "))")
            }
            return s
        }

        func triangle(_ value: Any?, _ path: String, default fallback: (Double, Double, Double)) throws(SimulationError) -> (low: Double, mode: Double, high: Double) {
            guard let value else { return fallback }
            guard let array = value as? [Any], array.count == 3 else {
                throw fail(path, "must be [low, mode, high] in seconds")
            }
            let low = try number(array[0], "\(path)[0]", default: 0, min: 0)
            let mode = try number(array[1], "\(path)[1]", default: 0, min: 0)
            let high = try number(array[2], "\(path)[2]", default: 0, min: 0)
            guard low <= mode, mode <= high, low < high else {
                throw fail(path, "needs low <= mode <= high and low < high, got [\(format(low)), \(format(mode)), \(format(high))]")
            }
            return (low, mode, high)
        }

        /// JSON `true`/`false` arrive as NSNumber with the `char` type code.
        static func isBoolean(_ n: NSNumber) -> Bool {
            String(cString: n.objCType) == "c"
        }

        func describe(_ value: Any) -> String {
            if let n = value as? NSNumber, Self.isBoolean(n) { return n.boolValue ? "true" : "false" }
            if let s = value as? String { return "\"\(s)\"" }
            if value is [Any] { return "an array" }
            if value is [String: Any] { return "an object" }
            if value is NSNull { return "null" }
            return "\(value)"
        }

        func format(_ x: Double) -> String {
            x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
        }
    }
}
